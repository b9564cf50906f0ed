"""Run engines over evaluation items and score every output.

Two phases, so the timing is honest: (1) each engine enhances every item in this process, one
call at a time, timed with a wall clock (after one untimed warm-up call), while nothing else of
ours runs; (2) the outputs are scored, in parallel worker processes when `jobs` > 1.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

import numpy as np

from evaluation import metrics
from evaluation.items import EVAL_RATE_HZ, EvalItem

DISPLAY_NAMES = {"passthrough": "noisy"}  # the identity engine is the "noisy" row
ENGINE_ORDER = ("passthrough", "noisereduce", "rnnoise", "deepfilternet", "dsp", "hifigan")

Log = Callable[[str], None]


@dataclass
class EngineOutputs:
    """One engine's outputs for all items, with its wall time per item."""

    name: str  # the registry name
    display_name: str
    version: str
    load_s: float
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def default_engines() -> list[str]:
    """Every engine the registry can load here, in report order (known ones first)."""
    from services.enhancer import engines

    available = engines.names()
    known = [name for name in ENGINE_ORDER if name in available]
    return known + sorted(name for name in available if name not in known)


def enhance_all(
    engine_name: str, items: Sequence[EvalItem], strength: float = 1.0, log: Log = print
) -> EngineOutputs:
    """Enhance every item with one engine; the engine contract (same length, finite float32) is
    checked and any breach recorded, then repaired so the item can still be scored."""
    from services.enhancer import engines

    engines.names()  # imports every engine module once, so no engine's load time carries it
    started = time.perf_counter()
    engine = engines.get(engine_name)
    # untimed warm-up: lazy imports, JIT and allocator caches are not the engine's steady speed
    warmup = np.random.default_rng(0).standard_normal(EVAL_RATE_HZ).astype(np.float32) * 0.01
    engine.enhance(warmup, EVAL_RATE_HZ, strength)
    result = EngineOutputs(
        name=engine_name,
        display_name=DISPLAY_NAMES.get(engine_name, engine_name),
        version=str(getattr(engine, "version", "unknown")),
        load_s=time.perf_counter() - started,
    )
    for index, item in enumerate(items):
        t0 = time.perf_counter()
        try:
            out = engine.enhance(item.noisy.copy(), EVAL_RATE_HZ, strength)
        except Exception as exc:  # one failing file must not hide the rest of the table
            result.wall_s[item.item_id] = time.perf_counter() - t0
            result.errors[item.item_id] = f"{type(exc).__name__}: {exc}"
            result.outputs[item.item_id] = item.noisy.copy()
            continue
        result.wall_s[item.item_id] = time.perf_counter() - t0
        result.outputs[item.item_id] = _check_contract(out, item, result.errors)
        if (index + 1) % 20 == 0:
            log(f"  {result.display_name}: {index + 1}/{len(items)}")
    return result


def _check_contract(out: Any, item: EvalItem, errors: dict[str, str]) -> np.ndarray:
    out = np.asarray(out, dtype=np.float32).reshape(-1)
    if len(out) != len(item.noisy):
        errors[item.item_id] = f"length {len(out)} != input length {len(item.noisy)}"
        out = np.pad(out, (0, max(0, len(item.noisy) - len(out))))[: len(item.noisy)]
    if not np.all(np.isfinite(out)):
        errors[item.item_id] = "non-finite samples"
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def score(output: np.ndarray, noisy: np.ndarray, clean: np.ndarray | None) -> dict[str, float]:
    """All metrics of one output (16 kHz). Paired ones only where a reference exists."""
    rate = EVAL_RATE_HZ
    scores: dict[str, float] = {}
    if clean is not None:
        si_sdr_out = metrics.si_sdr(clean, output)
        scores.update(
            pesq_wb=metrics.pesq_wb(clean, output, rate),
            stoi=_guarded(metrics.stoi, clean, output, rate),
            estoi=_guarded(metrics.stoi, clean, output, rate, extended=True),
            si_sdr=si_sdr_out,
            si_sdr_improvement=si_sdr_out - metrics.si_sdr(clean, noisy),
            snr=metrics.snr_db(clean, output),
            lsd=metrics.log_spectral_distance(clean, output, rate),
        )
    peak = float(np.max(np.abs(output))) if len(output) else 0.0
    # DNSMOS is defined on [-1, 1]; judge a hot output at a safe level rather than clipped
    scores.update(metrics.dnsmos(output / peak if peak > 1.0 else output, rate))
    scores["lufs"] = metrics.loudness_lufs(output, rate)
    scores["true_peak_dbtp"] = metrics.true_peak_dbtp(output, rate)
    return scores


def _guarded(fn: Callable[..., float], *args: Any, **kwargs: Any) -> float:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pystoi warns on very short clips; its value is kept
        value = fn(*args, **kwargs)
    return value if math.isfinite(value) else math.nan


def _worker_init() -> None:
    metrics.set_onnx_threads(1)


def score_all(
    runs: Sequence[EngineOutputs], items: Sequence[EvalItem], jobs: int = 2, log: Log = print
) -> list[dict[str, Any]]:
    """One row per (engine, item): ids, conditions, metrics, wall time and real-time factor."""
    tasks = [(run, item) for run in runs for item in items]
    args = [(run.outputs[item.item_id], item.noisy, item.clean) for run, item in tasks]
    started = time.perf_counter()
    jobs = min(jobs, len(tasks) // 8)  # starting a worker (imports, JIT) costs ~8 scorings
    if jobs > 1:
        saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")  # inherited by workers
        try:
            with ProcessPoolExecutor(jobs, get_context("spawn"), initializer=_worker_init) as pool:
                results = list(pool.map(score, *zip(*args, strict=True), chunksize=4))
        finally:
            for key, value in saved.items():
                os.environ.pop(key, None) if value is None else os.environ.update({key: value})
    else:
        results = [score(*a) for a in args]
    log(f"scored {len(tasks)} outputs in {time.perf_counter() - started:.0f} s")
    rows = []
    for (run, item), scores in zip(tasks, results, strict=True):
        wall_s = run.wall_s[item.item_id]
        rows.append(
            {
                "engine": run.display_name,
                "item": item.item_id,
                "set": item.set_name,
                "duration_s": round(item.duration_s, 3),
                "conditions": dict(item.conditions),
                "metrics": {**scores, "rtf": wall_s / item.duration_s},
                "wall_s": wall_s,
                "error": run.errors.get(item.item_id),
            }
        )
    return rows
