"""Mastering at the output rate: a gentle leveler, loudness to the preset's target, and a
true-peak limiter — so every output lands within ±0.5 LU of its target at ≤ −1 dBTP.

Presets: podcast −16 LUFS, broadcast −23 (EBU R128), video −14, none (measure only).
`master()` works on whole signals (with the leveler); `master_file()` streams files of any length
in constant memory: one reading pass that measures (skipped when the stage that wrote the file
fed a `ProgrammeAnalysis` as it wrote), the gain search on the measurements
(`shared.audio.limiter`), one writing pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.ndimage
import soundfile as sf

from shared.audio.limiter import (
    ProgrammeAnalysis,
    TruePeaks,
    apply_gains,
    limiter_gains,
    output_peak_bounds,
)
from shared.audio.loudness import db_to_gain

PRESET_LUFS: dict[str, float | None] = {
    "podcast": -16.0,
    "broadcast": -23.0,
    "video": -14.0,
    "none": None,
}
CEILING_DBTP = -1.0
LIMIT_MARGIN_DB = 0.3  # the limiter aims a little below the ceiling: the meter's 4× is not ∞×
MAX_GAIN_DB = 30.0  # never lift near-silence (noise) by more than this
FETCH_MARGIN_DB = 1.0  # measure the true peaks a gain search may still need, in one go
BLOCK_S = 30.0

Fetch = Callable[[int, int], np.ndarray]


@dataclass(frozen=True)
class MasteringReport:
    preset: str
    target_lufs: float | None
    input_lufs: float
    output_lufs: float
    true_peak_dbtp: float
    gain_db: float

    def as_dict(self) -> dict[str, float | str | None]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    gain_db: float
    gains: np.ndarray  # [segments] the limiter's gain at each segment's start (≤ 1)
    segment: int
    true_peak_dbtp: float  # of the output, measured (4× oversampled)
    output_lufs: float  # of the output: the measured K-weighted energies × the gains applied

    def render(self, x: np.ndarray, start: int) -> np.ndarray:
        """x: [T] the programme's samples from ``start`` (a segment boundary) → mastered."""
        out = apply_gains(x * db_to_gain(self.gain_db), self.gains, start // self.segment,
                          self.segment)
        return np.clip(out, -1.0, 1.0, out=out)


def master(audio: np.ndarray, sample_rate_hz: int, preset: str,
           ceiling_dbtp: float = CEILING_DBTP) -> tuple[np.ndarray, dict]:
    """audio: [T] float32 → (mastered [T] float32, report dict)."""
    target = _target(preset)
    x = np.nan_to_num(np.asarray(audio, dtype=np.float64).reshape(-1))
    analysis = ProgrammeAnalysis(sample_rate_hz).feed_all(x)
    input_lufs = analysis.lufs()
    if target is not None and np.isfinite(input_lufs):  # the leveler changed it: measure again
        x = level(x, sample_rate_hz)
        analysis = ProgrammeAnalysis(sample_rate_hz).feed_all(x)
    plan = plan_mastering(analysis, _array_fetch(x), target, ceiling_dbtp)
    out = plan.render(x, 0)
    report = MasteringReport(preset, target, input_lufs, plan.output_lufs, plan.true_peak_dbtp,
                             plan.gain_db)
    return out.astype(np.float32), report.as_dict()


def master_file(src: Path, dst: Path | sf.SoundFile, preset: str, *, subtype: str = "FLOAT",
                fmt: str = "wav", block_s: float = BLOCK_S,
                progress: Callable[[float], None] | None = None,
                ceiling_dbtp: float = CEILING_DBTP,
                analysis: ProgrammeAnalysis | None = None) -> dict:
    """Stream `src` (mono WAV) into `dst` mastered, in constant memory. `dst`: a path (written
    as ``fmt``/``subtype``) or an open writer (e.g. the delivered file itself, tagged).
    ``analysis``: `src` as measured while it was written (saves the reading pass)."""
    target = _target(preset)
    tell = progress or (lambda _: None)
    if analysis is None:
        analysis = analyse_file(src, block_s, progress=lambda f: tell(0.3 * f))
    with sf.SoundFile(str(src)) as reader:
        plan = plan_mastering(analysis, _file_fetch(reader), target, ceiling_dbtp)
    _write(src, dst, plan, block_s, subtype=subtype, fmt="FLAC" if fmt == "flac" else "WAV",
           progress=lambda f: tell(0.3 + 0.7 * f))
    return MasteringReport(preset, target, analysis.lufs(), plan.output_lufs,
                           plan.true_peak_dbtp, plan.gain_db).as_dict()


def relimit_file(src: Path, dst: Path, gain_db: float, ceiling_dbtp: float,
                 block_s: float = BLOCK_S) -> tuple[float, float]:
    """`src` (mastered mono WAV) × gain, limited again at ``ceiling_dbtp``, into `dst` (float
    WAV), streamed: the second chance of a lossy output whose encoder overshot the true peak.
    Returns (integrated LUFS, true peak dBTP) of what was written."""
    analysis = analyse_file(src, block_s)
    with sf.SoundFile(str(src)) as reader:
        plan = plan_mastering(analysis, _file_fetch(reader), None, ceiling_dbtp,
                              gain_db=gain_db)
    _write(src, dst, plan, block_s, subtype="FLOAT", fmt="WAV")
    return plan.output_lufs, plan.true_peak_dbtp


def analyse_file(src: Path, block_s: float = BLOCK_S,
                 progress: Callable[[float], None] | None = None) -> ProgrammeAnalysis:
    info = sf.info(str(src))
    analysis = ProgrammeAnalysis(info.samplerate)
    for chunk in sf.blocks(str(src), blocksize=_block(block_s, analysis), dtype="float32"):
        analysis.feed(np.nan_to_num(chunk.reshape(-1)))
        if progress is not None:
            progress(analysis.frames / max(info.frames, 1))
    return analysis.finish()


def measure_file(path: Path, block_s: float = BLOCK_S) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) of a mono WAV, streamed; -inf for silence. The true
    peak is oversampled only where it can be the largest."""
    analysis = analyse_file(path, block_s)
    with sf.SoundFile(str(path)) as reader:
        peaks = TruePeaks(analysis, _file_fetch(reader))
        true_peak = _output_true_peak(peaks, np.ones(len(peaks.bounds), np.float32), 1.0)
    largest = float(true_peak.max(initial=0.0))
    return analysis.lufs(), float(20 * np.log10(largest)) if largest > 0 else float("-inf")


def plan_mastering(analysis: ProgrammeAnalysis, fetch: Fetch, target_lufs: float | None,
                   ceiling_dbtp: float = CEILING_DBTP, gain_db: float | None = None) -> Plan:
    """The gain that brings the programme to ``target_lufs`` once limited to ``ceiling_dbtp``
    (or the given ``gain_db``, limited; or, with neither, no change but clipping), and the
    limiter's gains; checked by measuring the output's true peak where it can reach the
    ceiling, and limited harder there if the interpolation let a peak through."""
    peaks = TruePeaks(analysis, fetch)
    rate, segment = analysis.sample_rate_hz, analysis.segment
    aim = db_to_gain(ceiling_dbtp - LIMIT_MARGIN_DB)
    extra: np.ndarray | None = None  # > 1 where a segment overshot (made when one does)

    def gains_at(g_db: float) -> np.ndarray:
        g = db_to_gain(g_db)
        peaks.measure(peaks.bounds > np.float32(aim * db_to_gain(-FETCH_MARGIN_DB) / g))
        exact = np.nan_to_num(peaks.values)  # a copy, then in place (2 h: 5.4 M segments)
        if extra is not None:
            exact *= extra
        exact *= np.float32(g)
        exact[peaks.bounds <= np.float32(aim / g)] = 0.0
        return limiter_gains(exact, aim, rate, segment)

    limit = target_lufs is not None or gain_db is not None
    if gain_db is None:
        gain_db = 0.0
        input_lufs = analysis.lufs()
        if target_lufs is not None and np.isfinite(input_lufs):
            gain_db = aim_gain(lambda g: analysis.lufs(gains_at(g), db_to_gain(g)),
                               target_lufs - input_lufs, target_lufs)
    gains = gains_at(gain_db) if limit else np.ones(len(peaks.bounds), np.float32)
    for _ in range(4):
        true_peak = _output_true_peak(peaks, gains, db_to_gain(gain_db))
        if not limit or true_peak.max(initial=0.0) <= db_to_gain(ceiling_dbtp):
            break
        overshoot = np.maximum(true_peak / np.float32(db_to_gain(ceiling_dbtp - LIMIT_MARGIN_DB)),
                               np.float32(1.0))
        extra = overshoot if extra is None else np.maximum(extra, overshoot, out=extra)
        gains = gains_at(gain_db)
    if limit and true_peak.max(initial=0.0) > db_to_gain(ceiling_dbtp):  # the last resort
        gain_db -= 20 * np.log10(true_peak.max() / db_to_gain(ceiling_dbtp))
        gains = gains_at(gain_db)
        true_peak = _output_true_peak(peaks, gains, db_to_gain(gain_db))
    peak_dbtp = 20 * np.log10(max(float(true_peak.max(initial=0.0)), 1e-12))
    output_lufs = analysis.lufs(gains, db_to_gain(gain_db))
    return Plan(float(gain_db), gains, segment, float(peak_dbtp), output_lufs)


def _output_true_peak(peaks: TruePeaks, gains: np.ndarray, gain: float) -> np.ndarray:
    """Per segment, the output's measured true peak where it may be the loudest; 0 elsewhere.
    Measures the segments in falling order of their bound until no unmeasured bound exceeds
    the largest peak measured (by more than 0.01 dB)."""
    bounds = output_peak_bounds(peaks, gains, gain)
    out = np.zeros(len(bounds), np.float32)
    measured = np.zeros(len(bounds), bool)
    threshold = float(bounds.max(initial=0.0)) * db_to_gain(-0.5)
    while threshold > 0:
        wanted = (bounds >= threshold) & ~measured
        out[wanted] = peaks.measure(wanted, gains, gain)[wanted]
        measured |= wanted
        largest = float(out.max())
        if not ((bounds > np.float32(largest * db_to_gain(0.01))) & ~measured).any():
            break
        threshold = min(largest, threshold * db_to_gain(-1.0))
    return out


def aim_gain(
    limited_lufs: Callable[[float], float],
    first_gain_db: float,
    target_lufs: float,
    tolerance_lu: float = 0.05,
    max_tries: int = 8,
) -> float:
    """The gain that makes `limited_lufs(gain)` hit the target. Limiting eats part of every
    extra dB on a peaky signal (a 20 dB crest factor lifted to −14 LUFS loses most of it), so
    plain re-aiming crawls; a secant step on the measured dB-per-dB slope converges in 2–4 tries.
    """
    gain_db = float(np.clip(first_gain_db, -60.0, MAX_GAIN_DB))
    previous: tuple[float, float] | None = None
    for _ in range(max_tries):
        lufs = limited_lufs(gain_db)
        error = target_lufs - lufs
        if not np.isfinite(lufs) or abs(error) < tolerance_lu:
            break
        slope = 1.0
        if previous is not None and gain_db != previous[0]:
            slope = float(np.clip((lufs - previous[1]) / (gain_db - previous[0]), 0.15, 1.0))
        previous = (gain_db, lufs)
        next_gain = float(np.clip(gain_db + error / slope, -60.0, MAX_GAIN_DB))
        if next_gain == gain_db:  # pinned at MAX_GAIN_DB: quiet input, not lifted further
            break
        gain_db = next_gain
    return gain_db


def level(
    x: np.ndarray,
    sample_rate_hz: int,
    ratio: float = 2.0,
    window_s: float = 0.4,
    range_db: float = 6.0,
) -> np.ndarray:
    """Gentle leveler: sections louder than the programme's median by more than `range_db` are
    brought down at `ratio`:1, with a slow, smooth gain (no pumping on syllables)."""
    n = max(int(window_s * sample_rate_hz), 1)
    power = scipy.ndimage.uniform_filter1d(x * x, n, mode="nearest")
    level_db = 10 * np.log10(power + 1e-12)
    active = level_db > level_db.max() - 50.0
    if not np.any(active):
        return x
    threshold = np.median(level_db[active]) + range_db
    over = np.maximum(level_db - threshold, 0.0)
    gain_db = -over * (1.0 - 1.0 / ratio)
    gain_db = scipy.ndimage.uniform_filter1d(gain_db, n, mode="nearest")
    return x * 10.0 ** (gain_db / 20.0)


def _write(src: Path, dst: Path | sf.SoundFile, plan: Plan, block_s: float, *, subtype: str,
           fmt: str, progress: Callable[[float], None] = lambda _: None) -> None:
    """The writing pass."""
    info = sf.info(str(src))
    done = 0
    with contextlib.ExitStack() as stack:
        writer = dst if isinstance(dst, sf.SoundFile) else stack.enter_context(sf.SoundFile(
            str(dst), "w", samplerate=info.samplerate, channels=1, subtype=subtype, format=fmt))
        blocksize = -(-int(block_s * info.samplerate) // plan.segment) * plan.segment
        for chunk in sf.blocks(str(src), blocksize=blocksize, dtype="float32"):
            x = chunk.reshape(-1)
            out = plan.render(x if np.isfinite(x).all() else np.nan_to_num(x), done)
            writer.write(out)
            done += len(out)
            progress(done / max(info.frames, 1))


def _target(preset: str) -> float | None:
    if preset not in PRESET_LUFS:
        raise ValueError(f"unknown preset {preset!r}; have {sorted(PRESET_LUFS)}")
    return PRESET_LUFS[preset]


def _block(block_s: float, analysis: ProgrammeAnalysis) -> int:
    return -(-int(block_s * analysis.sample_rate_hz) // analysis.segment) * analysis.segment


def _array_fetch(x: np.ndarray) -> Fetch:
    def fetch(start: int, stop: int) -> np.ndarray:
        out = np.zeros(stop - start)
        lo, hi = max(start, 0), min(stop, len(x))
        if hi > lo:
            out[lo - start : hi - start] = x[lo:hi]
        return out

    return fetch


def _file_fetch(reader: sf.SoundFile) -> Fetch:
    def fetch(start: int, stop: int) -> np.ndarray:
        out = np.zeros(stop - start)
        lo, hi = max(start, 0), min(stop, reader.frames)
        if hi > lo:
            reader.seek(lo)
            out[lo - start : hi - start] = reader.read(hi - lo, dtype="float32",
                                                       always_2d=True)[:, 0]
        if not np.isfinite(out).all():
            np.nan_to_num(out, copy=False)
        return out

    return fetch
