"""Mastering at the output rate: a gentle leveler, loudness to the preset's target, and a
true-peak limiter — so every output lands within ±0.5 LU of its target at ≤ −1 dBTP.

Presets: podcast −16 LUFS, broadcast −23 (EBU R128), video −14, none (measure only).
`master()` works on whole signals; `master_file()` streams files of any length in constant
memory (two passes: measure, then gain + limit block by block).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.ndimage
import scipy.signal
import soundfile as sf

from shared.audio.loudness import db_to_gain, integrated_lufs, oversample, true_peak_dbtp
from shared.audio.loudness_stream import StreamingLoudness

PRESET_LUFS: dict[str, float | None] = {
    "podcast": -16.0,
    "broadcast": -23.0,
    "video": -14.0,
    "none": None,
}
CEILING_DBTP = -1.0
LIMIT_MARGIN_DB = 0.3  # the limiter aims a little below the ceiling: the meter's 4× is not ∞×
LOOKAHEAD_S = 0.005
RELEASE_S = 0.08
MAX_GAIN_DB = 30.0  # never lift near-silence (noise) by more than this


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


def master(audio: np.ndarray, sample_rate_hz: int, preset: str,
           ceiling_dbtp: float = CEILING_DBTP) -> tuple[np.ndarray, dict]:
    """audio: [T] float32 → (mastered [T] float32, report dict)."""
    if preset not in PRESET_LUFS:
        raise ValueError(f"unknown preset {preset!r}; have {sorted(PRESET_LUFS)}")
    x = np.nan_to_num(np.asarray(audio, dtype=np.float64).reshape(-1))
    target = PRESET_LUFS[preset]
    input_lufs = integrated_lufs(x, sample_rate_hz)
    if target is None or not np.isfinite(input_lufs):
        out = np.clip(x, -1.0, 1.0)
        return out.astype(np.float32), _report(preset, target, input_lufs, out, sample_rate_hz, 0.0)
    x = level(x, sample_rate_hz)
    outputs: dict[float, np.ndarray] = {}

    def limited_lufs(gain_db: float) -> float:
        outputs[gain_db] = limit_true_peak(x * db_to_gain(gain_db), sample_rate_hz, ceiling_dbtp)
        return integrated_lufs(outputs[gain_db], sample_rate_hz)

    gain_db = aim_gain(limited_lufs, target - integrated_lufs(x, sample_rate_hz), target)
    out = outputs[gain_db]
    return out.astype(np.float32), _report(preset, target, input_lufs, out, sample_rate_hz, gain_db)


def aim_gain(
    limited_lufs: Callable[[float], float],
    first_gain_db: float,
    target_lufs: float,
    tolerance_lu: float = 0.1,
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


def limit_true_peak(
    x: np.ndarray,
    sample_rate_hz: int,
    ceiling_dbtp: float = CEILING_DBTP,
    state: list[float] | None = None,
) -> np.ndarray:
    """Look-ahead limiter on the 4× oversampled envelope: the gain starts falling `LOOKAHEAD_S`
    before an over-ceiling peak and recovers over `RELEASE_S`. `state` carries the release
    between blocks of a stream."""
    ceiling = db_to_gain(ceiling_dbtp - LIMIT_MARGIN_DB)
    if not len(x):
        return x
    peaks = np.abs(oversample(x)).reshape(-1, 4).max(axis=1)[: len(x)]
    peaks = np.pad(peaks, (0, len(x) - len(peaks)), mode="edge")
    needed = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    look = max(int(LOOKAHEAD_S * sample_rate_hz), 1)
    # hold the lowest gain over the look-ahead window, then smooth: it reaches it in time
    held = scipy.ndimage.minimum_filter1d(needed, 2 * look + 1, mode="nearest")
    # each average covers only held values whose windows include this sample: ≤ needed here
    gain = scipy.ndimage.uniform_filter1d(held, look, mode="nearest")
    release = np.exp(-1.0 / (RELEASE_S * sample_rate_hz))
    start = state[0] if state else 1.0
    gain = _release(np.minimum(gain, needed), release, start)
    if state is not None:
        state[:] = [float(gain[-1])]
    out = x * gain
    # a final safety net for the rare peak the smoothing let through
    over = np.max(np.abs(oversample(out))) if len(out) > 8 else np.max(np.abs(out))
    if over > ceiling:
        out = out * (ceiling / over)
    return out


def _release(gain: np.ndarray, coefficient: float, start: float) -> np.ndarray:
    """Instant attack, exponential release: y = min(g, c·y_prev + (1-c)·g)."""
    # one-pole recursion via lfilter on the rising parts, then take the minimum with the target
    smoothed = scipy.signal.lfilter(
        [1 - coefficient], [1, -coefficient], gain, zi=[coefficient * start]
    )[0]
    return np.minimum(gain, np.maximum(smoothed, gain.min()))


def master_file(
    src: Path,
    dst: Path,
    preset: str,
    *,
    subtype: str,
    fmt: str,
    block_s: float = 60.0,
    progress: Callable[[float], None] | None = None,
    ceiling_dbtp: float = CEILING_DBTP,
) -> dict:
    """Stream `src` (mono WAV) into `dst` mastered, in constant memory: measure, re-aim the gain
    while limiting changes the loudness (measure-only passes), then write."""
    rate = sf.info(str(src)).samplerate
    target = PRESET_LUFS[preset]
    input_lufs, _ = _stream_pass(src, block_s, 0.0, limit=False)
    gain_db = 0.0
    if target is not None and np.isfinite(input_lufs):
        gain_db = aim_gain(
            lambda g: _stream_pass(src, block_s, g, limit=True, ceiling_dbtp=ceiling_dbtp)[0],
            target - input_lufs,
            target,
            max_tries=5,  # each try reads the whole file once
        )
    with sf.SoundFile(
        str(dst),
        "w",
        samplerate=rate,
        channels=1,
        subtype=subtype,
        format="FLAC" if fmt == "flac" else "WAV",
    ) as writer:
        output_lufs, peak_dbtp = _stream_pass(
            src, block_s, gain_db, limit=target is not None, writer=writer, progress=progress,
            ceiling_dbtp=ceiling_dbtp,
        )
    return MasteringReport(preset, target, input_lufs, output_lufs, peak_dbtp, gain_db).as_dict()


def relimit_file(src: Path, dst: Path, gain_db: float, ceiling_dbtp: float,
                 block_s: float = 60.0) -> tuple[float, float]:
    """`src` (mastered mono WAV) × gain, limited again at ``ceiling_dbtp``, into `dst` (float
    WAV), streamed: the second chance of a lossy output whose encoder overshot the true peak.
    Returns (integrated LUFS, true peak dBTP) of what was written."""
    rate = sf.info(str(src)).samplerate
    with sf.SoundFile(str(dst), "w", samplerate=rate, channels=1, subtype="FLOAT",
                      format="WAV") as writer:
        return _stream_pass(src, block_s, gain_db, limit=True, writer=writer,
                            ceiling_dbtp=ceiling_dbtp)


def _stream_pass(
    src: Path,
    block_s: float,
    gain_db: float,
    *,
    limit: bool,
    writer: sf.SoundFile | None = None,
    progress: Callable[[float], None] | None = None,
    ceiling_dbtp: float = CEILING_DBTP,
) -> tuple[float, float]:
    """One pass over the file: gain, limit, (write); returns (integrated LUFS, true peak dBTP).
    Only the writing pass measures the true peak (4× oversampling of every block): the measuring
    passes return NaN for it, since aiming the gain needs the loudness alone."""
    info = sf.info(str(src))
    meter = StreamingLoudness(info.samplerate)
    peak, done, state = 0.0, 0, [1.0]
    with sf.SoundFile(str(src)) as reader:
        for chunk in reader.blocks(blocksize=int(block_s * info.samplerate), dtype="float64"):
            x = np.nan_to_num(chunk.reshape(-1)) * db_to_gain(gain_db)
            if limit:
                x = limit_true_peak(x, info.samplerate, ceiling_dbtp, state=state)
            x = np.clip(x, -1.0, 1.0)
            meter.feed(x)
            if writer is not None:
                if len(x) > 8:
                    peak = max(peak, float(np.max(np.abs(oversample(x)))))
                writer.write(x.astype(np.float32))
            done += len(x)
            if progress is not None:
                progress(done / max(info.frames, 1))
    if writer is None:
        return meter.integrated_lufs(), float("nan")
    return meter.integrated_lufs(), float(20 * np.log10(max(peak, 1e-12)))


def _report(
    preset: str,
    target: float | None,
    input_lufs: float,
    out: np.ndarray,
    sample_rate_hz: int,
    gain_db: float,
) -> dict:
    return MasteringReport(
        preset,
        target,
        float(input_lufs),
        float(integrated_lufs(out, sample_rate_hz)),
        float(true_peak_dbtp(out, sample_rate_hz)),
        float(gain_db),
    ).as_dict()
