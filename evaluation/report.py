"""results.json (for scripts) and results.md (for people) from scored rows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from evaluation.aggregate import by_condition, engines_in, stats_of, summarise
from evaluation.items import CONDITION_KEYS

COLUMNS = (  # metric key, header, decimals
    ("pesq_wb", "PESQ-WB", 2),
    ("stoi", "STOI", 3),
    ("estoi", "ESTOI", 3),
    ("si_sdr", "SI-SDR dB", 1),
    ("si_sdr_improvement", "SI-SDRi dB", 1),
    ("lsd", "LSD dB", 2),
    ("dnsmos_ovrl", "DNSMOS OVRL", 2),
    ("dnsmos_sig", "SIG", 2),
    ("dnsmos_bak", "BAK", 2),
    ("lufs", "LUFS", 1),
    ("true_peak_dbtp", "TP dBTP", 1),
)
FREE_COLUMNS = tuple(
    c
    for c in COLUMNS
    if c[0] in ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "lufs", "true_peak_dbtp")
)
CONDITION_COLUMNS = tuple(
    c
    for c in COLUMNS
    if c[0] in ("pesq_wb", "stoi", "estoi", "si_sdr_improvement", "lsd", "dnsmos_ovrl")
)


def _clean_json(value: Any) -> Any:
    """JSON has no NaN/inf: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _clean_json(value.item())
    return value


def build_results(rows: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "meta": meta,
        "engines": summarise(rows),
        "conditions": by_condition(rows),
        "files": rows,
    }


def write(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "results.json", out_dir / "results.md"
    json_path.write_text(json.dumps(_clean_json(results), indent=1) + "\n")
    md_path.write_text(markdown(results))
    return json_path, md_path


def _cell(stat: dict[str, float] | None, decimals: int) -> str:
    if not stat or stat.get("mean") is None or not math.isfinite(stat["mean"]):
        return "–"
    text = f"{stat['mean']:.{decimals}f}"
    if stat.get("ci95") is not None and math.isfinite(stat["ci95"]):
        text += f" ± {stat['ci95']:.{decimals}f}"
    return text


def _table(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out) + "\n"


def _set_stats(rows: list[dict[str, Any]], engine: str, set_name: str | None) -> dict[str, Any]:
    return stats_of(
        [r for r in rows if r["engine"] == engine and (set_name is None or r["set"] == set_name)]
    )


def markdown(results: dict[str, Any]) -> str:
    meta, rows = results["meta"], results["files"]
    engines = engines_in(rows)
    sets = list(dict.fromkeys(r["set"] for r in rows))
    paired_sets = [
        s for s in sets if any(r["set"] == s and "pesq_wb" in r["metrics"] for r in rows)
    ]
    parts = [
        f"# SpeakUp enhancement evaluation\n\n{meta.get('started_at', '')} · "
        f"`{meta.get('command', '')}`\n\n"
        f"Machine: {meta.get('machine', '?')}. Engines run one at a time in one process; "
        f"RTF = enhance wall time / audio duration (lower is faster; < 1 is real time)."
        f"{_load_note(meta)}\n\n"
    ]
    parts.append(
        _table(
            ["engine", "version", "load s", "RTF", "items", "errors"],
            [
                [
                    e,
                    str(meta["engines"][e]["version"]),
                    f"{meta['engines'][e]['load_s']:.1f}",
                    f"{results['engines'][e]['rtf']:.3f}",
                    str(results["engines"][e]["n_items"]),
                    str(results["engines"][e]["n_errors"]),
                ]
                for e in engines
            ],
        )
    )
    parts.append(
        "Sets: "
        + ", ".join(
            f"**{s}** ({sum(r['set'] == s for r in rows) // max(len(engines), 1)} items"
            f"{', ' + meta['set_notes'][s] if s in meta.get('set_notes', {}) else ''})"
            for s in sets
        )
        + ".\n\nCells: mean ± 95 % interval (Student t) over items.\n"
    )
    if paired_sets:
        parts.append("\n## All paired items (" + " + ".join(paired_sets) + ")\n\n")
        parts.append(_metric_table(rows, engines, None, COLUMNS))
    for set_name in sets:
        columns = COLUMNS if set_name in paired_sets else FREE_COLUMNS
        parts.append(f"\n## Set `{set_name}`\n\n")
        parts.append(_metric_table(rows, engines, set_name, columns))
    conditions = results["conditions"]
    for set_name in paired_sets:
        for key in CONDITION_KEYS:
            values = list(conditions.get(engines[0], {}).get(set_name, {}).get(key, {}))
            if len(values) < 2:
                continue
            parts.append(f"\n### `{set_name}` by {key}\n\n")
            lines = []
            for value in values:
                for engine in engines:
                    stats = conditions[engine][set_name][key].get(value, {})
                    lines.append(
                        [value, engine, str(stats.get("pesq_wb", {}).get("n", 0))]
                        + [_cell(stats.get(m), d) for m, _, d in CONDITION_COLUMNS]
                    )
            parts.append(_table([key, "engine", "n"] + [h for _, h, _ in CONDITION_COLUMNS], lines))
    for set_name in (s for s in sets if s not in paired_sets):
        parts.append(f"\n### `{set_name}`: DNSMOS OVRL per file\n\n")
        items = list(dict.fromkeys(r["item"] for r in rows if r["set"] == set_name))
        score = {(r["item"], r["engine"]): r["metrics"].get("dnsmos_ovrl") for r in rows}
        parts.append(
            _table(
                ["file"] + engines,
                [
                    [item.split("/", 1)[-1]]
                    + [_cell({"mean": score.get((item, e))}, 2) for e in engines]
                    for item in items
                ],
            )
        )
    errors = [r for r in rows if r["error"]]
    if errors:
        parts.append(
            "\n## Engine errors\n\n"
            + "".join(f"- {r['engine']} on {r['item']}: {r['error']}\n" for r in errors[:50])
        )
    if meta.get("notes"):
        parts.append("\n## Notes\n\n" + "".join(f"- {note}\n" for note in meta["notes"]))
    return "".join(parts)


def _load_note(meta: dict[str, Any]) -> str:
    import os

    load = meta.get("load_average_1min")
    if not load:
        return ""
    note = f" Load average (1 min): {load['start']:.1f} at start, {load['end']:.1f} at end"
    if max(load["start"], load["end"]) > (os.cpu_count() or 1):
        note += " — above the core count: other work competed, so RTFs read high"
    return note + "."


def _metric_table(
    rows: list[dict[str, Any]],
    engines: list[str],
    set_name: str | None,
    columns: tuple[tuple[str, str, int], ...],
) -> str:
    lines = []
    for engine in engines:
        stats = _set_stats(rows, engine, set_name)
        lines.append(
            [engine]
            + [_cell(stats.get(m), d) for m, _, d in columns]
            + [f"{stats['rtf']['mean']:.3f}"]
        )
    return _table(["engine"] + [h for _, h, _ in columns] + ["RTF"], lines)
