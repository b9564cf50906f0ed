"""models/enhancer_scores.json: the measured rows the enhancer's `auto` chooses from.

`python -m evaluation --record-scores` writes it from the run it just made; the services read it
(services/enhancer/auto.py holds the rule) and never import this package. One file, one run:
every row comes from the same items, so rows compare, and the run's commit, date and command
say where they came from.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from evaluation import sources
from evaluation.aggregate import mean_ci
from evaluation.report import _clean_json

DEFAULT_PATH = sources.REPO_ROOT / "models" / "enhancer_scores.json"
FORMAT_VERSION = 1
BAR_ENGINE = "dsp"  # auto's bar: a run without it cannot rank anything
METRICS = {
    "pesq_wb": "mean PESQ-WB over the paired items (reference available)",
    "si_sdr_improvement_db": "mean SI-SDR improvement over the input, dB, paired items",
    "dnsmos_ovrl_real": "mean DNSMOS P.835 OVRL over the items with no reference "
    "(the real recordings)",
}


def _mean(rows: list[dict[str, Any]], metric: str) -> float:
    return mean_ci(r["metrics"][metric] for r in rows if metric in r["metrics"])["mean"]


def scores_from_results(results: dict[str, Any]) -> dict[str, Any]:
    """results: what report.build_results returns → the scores file's content."""
    meta = results["meta"]
    engines: dict[str, Any] = {}
    for display_name, info in meta["engines"].items():
        mine = [r for r in results["files"] if r["engine"] == display_name]
        paired = [r for r in mine if "pesq_wb" in r["metrics"]]
        real = [r for r in mine if "pesq_wb" not in r["metrics"]]
        engines[info["registry_name"]] = {
            "version": info["version"],
            "pesq_wb": _mean(paired, "pesq_wb"),
            "si_sdr_improvement_db": _mean(paired, "si_sdr_improvement"),
            "dnsmos_ovrl_real": _mean(real, "dnsmos_ovrl"),
            "n_paired": len(paired),
            "n_real": len(real),
            "n_errors": sum(1 for r in mine if r["error"]),
            "rtf": results["engines"][display_name]["rtf"],
        }
    git = meta.get("git") or {}
    return _clean_json(
        {
            "format_version": FORMAT_VERSION,
            "about": "Written by `python -m evaluation --record-scores`; read by "
            "services/enhancer/auto.py, whose docstring gives the rule `auto` applies.",
            "run": {
                "commit": git.get("commit"),
                "uncommitted": git.get("uncommitted", []),
                "started_at": meta.get("started_at"),
                "command": meta.get("command"),
                "machine": meta.get("machine"),
                "sets": meta.get("set_notes", {}),
            },
            "metrics": METRICS,
            "engines": engines,
        }
    )


def check_recordable(engine_names: list[str], limit: int | None) -> None:
    """Refuse, before the run, what must not choose the product's engine."""
    if limit:
        raise SystemExit("--record-scores needs the whole sets: drop --limit")
    if BAR_ENGINE not in engine_names:
        raise SystemExit(f"--record-scores needs the {BAR_ENGINE!r} row: auto's bar")


def write(scores: dict[str, Any], path: Path = DEFAULT_PATH) -> Path:
    """Atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(scores, indent=1) + "\n")
    os.replace(partial, path)
    return path


def summary_lines(scores: dict[str, Any]) -> list[str]:
    def cell(value: float | None, decimals: int) -> str:
        return "–" if value is None or not math.isfinite(value) else f"{value:.{decimals}f}"

    return [
        f"{name}: PESQ-WB {cell(row['pesq_wb'], 2)}, "
        f"SI-SDRi {cell(row['si_sdr_improvement_db'], 2)} dB, "
        f"DNSMOS OVRL (real) {cell(row['dnsmos_ovrl_real'], 2)}"
        for name, row in scores["engines"].items()
    ]
