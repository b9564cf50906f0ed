"""Means, 95 % intervals and the per-condition breakdown of scored rows (see runner.score_all)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from evaluation.items import CONDITION_KEYS

PAIRED_METRICS = ("pesq_wb", "stoi", "estoi", "si_sdr", "si_sdr_improvement", "snr", "lsd")
FREE_METRICS = ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808", "lufs", "true_peak_dbtp")
ALL_METRICS = PAIRED_METRICS + FREE_METRICS


def mean_ci(values: Iterable[float]) -> dict[str, float]:
    """Mean and the half-width of its 95 % Student-t interval (NaN for fewer than 2 values);
    non-finite values (PESQ finding no speech, silence's -inf LUFS) are left out and counted."""
    data = np.asarray([v for v in values if v is not None], dtype=np.float64)
    finite = data[np.isfinite(data)]
    n = len(finite)
    if n == 0:
        return {"mean": math.nan, "ci95": math.nan, "n": 0, "n_excluded": int(len(data))}
    half_width = math.nan
    if n > 1:
        from scipy.stats import t

        half_width = float(t.ppf(0.975, n - 1) * finite.std(ddof=1) / math.sqrt(n))
    return {
        "mean": float(finite.mean()),
        "ci95": half_width,
        "n": n,
        "n_excluded": int(len(data) - n),
    }


def stats_of(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out = {}
    for metric in ALL_METRICS:
        values = [r["metrics"][metric] for r in rows if metric in r["metrics"]]
        if values:
            out[metric] = mean_ci(values)
    wall_s = sum(r["wall_s"] for r in rows)
    duration_s = sum(r["duration_s"] for r in rows)
    out["rtf"] = {
        "mean": wall_s / duration_s if duration_s else math.nan,
        "ci95": math.nan,
        "n": len(rows),
        "n_excluded": 0,
    }
    return out


def engines_in(rows: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["engine"] for r in rows))


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """engine → flat means (the keys other scripts compare: pesq_wb, stoi, estoi, si_sdr,
    si_sdr_improvement, lsd, dnsmos_ovrl, rtf, ...), plus `per_set` and `stats` (mean, ci95, n).

    Paired metrics average over every paired item of the run; reference-free ones over every
    item; rtf is total wall time over total audio duration."""
    summary: dict[str, Any] = {}
    for engine in engines_in(rows):
        mine = [r for r in rows if r["engine"] == engine]
        stats = stats_of(mine)
        per_set = {}
        for set_name in dict.fromkeys(r["set"] for r in mine):
            set_stats = stats_of([r for r in mine if r["set"] == set_name])
            per_set[set_name] = {k: v["mean"] for k, v in set_stats.items()}
            per_set[set_name]["n_items"] = sum(r["set"] == set_name for r in mine)
        summary[engine] = {
            **{k: v["mean"] for k, v in stats.items()},
            "n_items": len(mine),
            "n_errors": sum(1 for r in mine if r["error"]),
            "per_set": per_set,
            "stats": stats,
        }
    return summary


def by_condition(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """engine → set → condition key → value → metric → {mean, ci95, n}."""
    out: dict[str, Any] = {}
    for engine in engines_in(rows):
        mine = [r for r in rows if r["engine"] == engine]
        for set_name in dict.fromkeys(r["set"] for r in mine):
            in_set = [r for r in mine if r["set"] == set_name]
            for key in CONDITION_KEYS:
                values = sorted(
                    {r["conditions"][key] for r in in_set if key in r["conditions"]},
                    key=_condition_order,
                )
                if len(values) < 1:
                    continue
                groups = out.setdefault(engine, {}).setdefault(set_name, {}).setdefault(key, {})
                for value in values:
                    groups[value] = stats_of(
                        [r for r in in_set if r["conditions"].get(key) == value]
                    )
    return out


def _condition_order(value: str) -> tuple[float, str]:
    """SNR buckets numerically, reverb from none to long, others alphabetically."""
    try:
        return float(value.split()[0]), value
    except ValueError:
        pass
    rank = {"none": 0, "rt60<0.45s": 1, "rt60 0.45-0.9s": 2, "rt60>=0.9s": 3, "no": 0, "yes": 1}
    return float(rank.get(value, 10)), value
