"""What "auto" means for the enhancer: the best engine installed, judged by measured rows.

The rows are models/enhancer_scores.json, written by one `make eval` run
(`python -m evaluation --record-scores`): per engine (registry name), the mean PESQ-WB and the
mean SI-SDR improvement over the paired items, and the mean DNSMOS OVRL over the real
recordings. Baselines are rows like any other. The rule:

1. A candidate is installed here, has all three scores, had no errors in the run, and beats
   the `dsp` row on all three (strictly): `dsp`, the classic chain with no learnt weights, is
   the bar.
2. Among candidates the best mean rank over the three metrics wins (rank 1 = best candidate on
   that metric; equal values share a rank); a tie goes to the higher PESQ-WB.
3. No candidate, or no readable file, or no `dsp` row in it: `dsp`, else `passthrough`.

No engine is named here but the bar and the fallbacks: a new model family is chosen as soon as
its row is in the file and it clears the bar. SPEAKUP_ENHANCER_SCORES overrides the path.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from shared.model_files import model_file

METRICS = ("pesq_wb", "si_sdr_improvement_db", "dnsmos_ovrl_real")  # all: higher is better
BAR = "dsp"
FALLBACKS = ("dsp", "passthrough")

Row = dict[str, float]


def scores_path() -> Path:
    return model_file("enhancer_scores.json", "SPEAKUP_ENHANCER_SCORES")


def read_scores(path: Path | None = None) -> dict[str, Row]:
    """engine → {metric: value} for the rows with all three finite scores and no errors;
    {} when the file is missing or unreadable."""
    try:
        engines = json.loads((path or scores_path()).read_text())["engines"]
        rows = {}
        for name, row in engines.items():
            values = {m: float(row[m]) for m in METRICS}
            if all(math.isfinite(v) for v in values.values()) and not row.get("n_errors"):
                rows[str(name)] = values
        return rows
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def best_engine(rows: dict[str, Row], available: list[str]) -> str | None:
    """The rule's steps 1 and 2: the winning candidate, or None."""
    bar = rows.get(BAR)
    if bar is None:
        return None
    candidates = {
        name: row
        for name, row in rows.items()
        if name in available and all(row[m] > bar[m] for m in METRICS)
    }
    if not candidates:
        return None

    def mean_rank(name: str) -> float:
        ranks = [1 + sum(o[m] > candidates[name][m] for o in candidates.values()) for m in METRICS]
        return sum(ranks) / len(ranks)

    return min(candidates, key=lambda name: (mean_rank(name), -candidates[name]["pesq_wb"]))


def auto_engine_name(available: list[str], path: Path | None = None) -> str:
    winner = best_engine(read_scores(path), available)
    if winner is not None:
        return winner
    for name in FALLBACKS:
        if name in available:
            return name
    raise LookupError("no enhancement engine installed")
