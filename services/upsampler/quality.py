"""The quality report on every job: DNSMOS P.835 (SIG, BAK, OVRL) of the input and of the
delivered output, on the same excerpt, and the bandwidth of each (`shared.audio.bandwidth`, over
the whole file: the input's as the decode measured it, before the chain chose what to keep).

Cheap by construction: DNSMOS costs ~0.4 s of CPU per 9.01 s window (measured here), so the
excerpt is at most `MAX_WINDOWS` windows per side, fewer for short recordings (`windows_for`,
aiming at `RTF_BUDGET`), chosen where speech is — on the enhanced 16 kHz signal, where noise no
longer looks like speech. For DNSMOS both files are decoded only up to the excerpt's end, with
memory for the excerpt alone; the output's bandwidth is measured on the whole delivered file at
its own rate (a lossy format's low-pass included), streamed.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from services.upsampler import dnsmos
from shared.audio.bandwidth import bandwidth_hz, file_bandwidth_hz
from shared.audio.pipeline import FramePipeline
from shared.audio.probe import open_container, select_audio_stream
from shared.logging import log_event

log = logging.getLogger("speakup.quality")
WINDOW_S = dnsmos.WINDOW_SAMPLES / dnsmos.RATE_HZ
MAX_WINDOWS = 3
# a sixth of the whole chain's RTF target (0.025, issue 16): one window per side under 400 s,
# three above 600 s (was 0.01: 1.8 of the 12.1 s the ErbNet chain spent on a 5-minute memo)
RTF_BUDGET = 0.004
WINDOW_COST_S = 0.4  # CPU seconds of one DNSMOS window (measured here: onnxruntime, 1 thread)
FRAME_S = 0.1  # resolution of the speech-activity map
ACTIVE_RANGE_DB = 30.0  # a frame within this of the loud (95th percentile) frames is speech
FLOOR_DBFS = -60.0
SPREAD_BONUS = 0.2  # a part without a window yet is worth this share of a window of speech
__all__ = ["InputSide", "bandwidth_hz", "choose_windows", "frame_levels_db", "measure_input",
           "quality_report", "safe_quality_report", "windows_for"]


def windows_for(duration_s: float) -> int:
    """How many windows per side keep the report within `RTF_BUDGET` (at least one)."""
    affordable = int(duration_s * RTF_BUDGET / (2 * WINDOW_COST_S))
    return max(1, min(MAX_WINDOWS, affordable, math.ceil(duration_s / WINDOW_S)))


def frame_levels_db(path: Path) -> np.ndarray:
    """Level (dBFS) of each `FRAME_S` frame of a mono WAV, streamed (72,000 floats for 2 h)."""
    rate = sf.info(str(path)).samplerate
    step = max(int(FRAME_S * rate), 1)
    levels: list[np.ndarray] = []
    carry = np.zeros(0, np.float32)
    with sf.SoundFile(str(path)) as reader:
        for block in reader.blocks(blocksize=step * 600, dtype="float32"):
            x = np.concatenate([carry, block.reshape(-1)])
            n = len(x) // step
            if n:
                power = (x[: n * step].astype(np.float64) ** 2).reshape(n, step).mean(axis=1)
                levels.append(10 * np.log10(power + 1e-12))
            carry = x[n * step:]
    return np.concatenate(levels) if levels else np.zeros(0)


def choose_windows(levels_db: np.ndarray, count: int) -> list[tuple[float, float]]:
    """(start s, length s) of up to ``count`` windows that do not overlap, each where the most
    frames are speech (ties: the louder); a window in a part of the recording (``count`` parts
    holding equal amounts of speech) that has none yet is preferred, so a long recording is
    sampled at its start, middle and end. Short recordings: the whole of it."""
    frames = len(levels_db)
    span = int(round(WINDOW_S / FRAME_S))
    if frames <= span:
        return [(0.0, frames * FRAME_S)]
    loud = np.percentile(levels_db, 95)
    active = (levels_db > max(loud - ACTIVE_RANGE_DB, FLOOR_DBFS)).astype(np.float64)
    # score of the window starting at each frame: active frames, + a tie-break on the level
    sums = np.concatenate([[0.0], np.cumsum(active + 1e-4 * (levels_db - loud))])
    score = sums[span:] - sums[:-span]
    speech = np.cumsum(active)[: len(score)]
    part = np.minimum((count * speech / max(speech[-1], 1.0)).astype(int), count - 1)
    free = np.ones(len(score), bool)
    starts: list[int] = []
    for _ in range(count):
        if not free.any():
            break
        taken = np.isin(part, [part[i] for i in starts])
        value = np.where(free, score + SPREAD_BONUS * span * ~taken, -np.inf)
        best = int(np.argmax(value))
        starts.append(best)
        free[max(0, best - span + 1):best + span] = False
    return [(round(i * FRAME_S, 3), WINDOW_S) for i in sorted(starts)]


class _Done(Exception):
    pass


def read_windows(path: Path, windows: list[tuple[float, float]]) -> tuple[list[np.ndarray], int]:
    """The windows of ``path``'s audio (mono, at its own rate), decoding no further than the
    last one ends. Times count from the first decoded sample."""
    with open_container(path) as container:
        stream = select_audio_stream(container, 64)
        rate = int(stream.codec_context.sample_rate or 48000)
        ranges = [(round(s * rate), round((s + n) * rate)) for s, n in windows]
        last = max(end for _, end in ranges)
        parts: list[list[np.ndarray]] = [[] for _ in ranges]
        position = 0

        def keep(x: np.ndarray) -> None:
            nonlocal position
            for i, (lo, hi) in enumerate(ranges):
                a, b = max(lo, position), min(hi, position + len(x))
                if a < b:
                    parts[i].append(x[a - position:b - position])
            position += len(x)
            if position >= last:
                raise _Done

        pipeline = FramePipeline(rate, keep, max_channels=64, sample_rate_range_hz=(1, 10**6),
                                 max_abs_sample=float("inf"), float_code="corrupt_audio")
        try:
            for frame in container.decode(stream):
                pipeline.add(frame)
            pipeline.finish()
        except _Done:
            pass
    return [np.concatenate(p) if p else np.zeros(0, np.float32) for p in parts], rate


def _to_16k(excerpts: list[np.ndarray], rate_hz: int) -> list[np.ndarray]:
    if rate_hz == dnsmos.RATE_HZ:
        return excerpts
    return [soxr.resample(x, rate_hz, dnsmos.RATE_HZ, quality="HQ") for x in excerpts]


@dataclass(frozen=True)
class InputSide:
    """The input's half of the report, measured ahead (`measure_input`)."""

    metrics: dict[str, Any]
    seconds: float


def _excerpt(enhanced_16k: Path) -> tuple[list[tuple[float, float]], float]:
    """(the windows to score, the recording's duration s), chosen on the enhanced signal."""
    levels = frame_levels_db(enhanced_16k)
    duration_s = len(levels) * FRAME_S
    return choose_windows(levels, windows_for(duration_s)), duration_s


def _measure(side: str, path: Path, windows: list[tuple[float, float]],
             known_bandwidth_hz: float | None) -> dict[str, Any]:
    excerpts, rate = read_windows(path, windows)
    found = {f"bandwidth_{side}_hz": known_bandwidth_hz if known_bandwidth_hz is not None
             else file_bandwidth_hz(path)}
    scores = dnsmos.score(_to_16k(excerpts, rate))
    return found | {f"dnsmos_{name}_{side}": round(v, 3) for name, v in scores.items()}


def measure_input(input_path: Path, enhanced_16k: Path,
                  bandwidth_in_hz: float | None = None) -> InputSide:
    """The input's side alone, on the excerpt `quality_report` will choose from the same
    enhanced signal: for a caller with a core free before the output exists (the CLI scores it
    while the output is mastered)."""
    started = time.perf_counter()
    windows, _ = _excerpt(enhanced_16k)
    dnsmos.warm_up()
    found = _measure("in", input_path, windows, bandwidth_in_hz)
    return InputSide(found, time.perf_counter() - started)


def quality_report(input_path: Path | None, output_path: Path, enhanced_16k: Path,
                   bandwidth_in_hz: float | None = None,
                   input_side: InputSide | None = None) -> dict[str, Any]:
    """Metrics for the job: ``dnsmos_{sig,bak,ovrl}_{in,out}``, ``bandwidth_{in,out}_hz``, the
    excerpt scored (``quality_excerpt_s``) and what the report cost (``quality_s``,
    ``quality_rtf``; a measured ``input_side``'s seconds included). ``input_path`` None: output
    only. ``bandwidth_in_hz``: the input's, as the decode measured it (measured here, over the
    whole input, where not given). ``input_side``: the input's half, measured ahead."""
    started = time.perf_counter()
    windows, duration_s = _excerpt(enhanced_16k)
    metrics: dict[str, Any] = {"quality_excerpt_s": round(sum(n for _, n in windows), 2),
                               "quality_windows_s": [round(float(s), 1) for s, _ in windows]}
    sides = {"out": output_path} if input_path is None else {"in": input_path, "out": output_path}
    ahead_s = 0.0
    if input_side is not None:
        metrics.update(input_side.metrics)
        ahead_s = input_side.seconds
        sides.pop("in", None)
    # the two sides at once: onnxruntime and the decoders release the GIL, the chain's cores are
    # free by now, and one session serves concurrent runs (loaded here, on one thread: two
    # threads importing onnxruntime at once can fail)
    dnsmos.warm_up()
    with ThreadPoolExecutor(len(sides)) as pool:
        known = {"in": bandwidth_in_hz, "out": None}
        for found in pool.map(lambda side: _measure(side, sides[side], windows, known[side]),
                              list(sides)):
            metrics.update(found)
    cost_s = time.perf_counter() - started + ahead_s
    metrics["quality_s"] = round(cost_s, 3)
    metrics["quality_rtf"] = round(cost_s / max(duration_s, 1e-6), 5)
    return metrics


def safe_quality_report(input_path: Path | None, output_path: Path, enhanced_16k: Path,
                        job_id: str | None = None,
                        bandwidth_in_hz: float | None = None,
                        input_side: Future[InputSide] | None = None) -> dict[str, Any]:
    """`quality_report`, or no metrics where it cannot be made: a missing measurement never
    fails a job (the models not installed, an output it cannot read). ``input_side``: the
    input's half, being measured (`measure_input`); waited for first."""
    try:
        side = input_side.result() if input_side is not None else None
        return quality_report(input_path, output_path, enhanced_16k, bandwidth_in_hz, side)
    except Exception as exc:  # noqa: BLE001
        log_event(log, "quality.skipped", logging.WARNING, job_id=job_id,
                  error=type(exc).__name__, detail=str(exc)[:200])
        return {}
