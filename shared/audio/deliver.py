"""The last step: the mastered audio → the delivered file, checked as a listener will hear it.

Lossless formats are written as mastered. A lossy encoder (MP3, AAC, Opus) quantises the
spectrum, and the waveform it decodes to overshoots the limiter's true peak — AAC by 2.6 dB on a
clipped real recording mastered to −14 LUFS at the lossless ceiling — and may shift the level
(LAME at 128 kbit/s CBR: −0.45 dB). So the delivered file is decoded and measured; where it
exceeds −1 dBTP or misses the loudness target by more than `LOUDNESS_TOLERANCE_LU`, the mastered
audio is limited again at a lower ceiling (by the overshoot) with the level corrected, and
encoded again; if the peak is still over, the level comes down as a whole. Mastering for lossy
outputs already aims `LOSSY_CEILING_DBTP` (−1.5), so most speech passes on the first encode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.audio.formats import OutputFormat
from shared.audio.mastering import CEILING_DBTP, relimit_file
from shared.audio.publish import Measured, encode_audio_file, measure_delivered

LOSSY_CEILING_DBTP = -1.5
LOUDNESS_TOLERANCE_LU = 0.5
SAFETY_DB = 0.1
MAX_RELIMITS = 2  # re-limit at a lower ceiling (and correct the level), encode, measure
MAX_SCALES = 2  # then, if still over: the level down by the overshoot, encode, measure
MAX_STEP_DB = 2.0  # the most one level correction moves


@dataclass(frozen=True)
class Delivery:
    measured: Measured | None  # None for lossless (the mastered samples themselves)
    encodes: int
    extra_gain_db: float
    ceiling_dbtp: float


def mastering_ceiling_dbtp(fmt: OutputFormat) -> float:
    return LOSSY_CEILING_DBTP if fmt.lossy else CEILING_DBTP


def deliver(mastered: Path, dst: Path, fmt: OutputFormat, *, rate_hz: int,
            target_lufs: float | None, bit_depth: int = 24, bitrate_kbps: int | None = None,
            tags: Mapping[str, str] | None = None, video_src: Path | None = None) -> Delivery:
    """Write `mastered` (mono float WAV) as `dst` in ``fmt``; for lossy formats, re-limit and
    re-encode until the decoded file is at ≤ −1 dBTP and within tolerance of ``target_lufs``
    (None: the preset changes no loudness and sets no ceiling; nothing is corrected)."""
    ceiling = mastering_ceiling_dbtp(fmt)
    if not fmt.lossy:
        encode_audio_file(mastered, dst, fmt, rate_hz=rate_hz, bit_depth=bit_depth, tags=tags)
        return Delivery(None, 1, 0.0, ceiling)

    def encode(src: Path) -> Measured:
        if video_src is not None:
            from shared.audio.video import mux_video

            mux_video(video_src, src, dst, fmt, rate_hz=rate_hz, bitrate_kbps=bitrate_kbps,
                      tags=tags)
        else:
            encode_audio_file(src, dst, fmt, rate_hz=rate_hz, bitrate_kbps=bitrate_kbps,
                              tags=tags)
        return measure_delivered(dst)

    measured, encodes, gain_db = encode(mastered), 1, 0.0
    adjusted = [mastered.with_name(f"{mastered.stem}.{i}.wav") for i in range(2)]
    source = mastered
    try:
        for _ in range(MAX_RELIMITS):
            if not _needs_fix(measured, target_lufs):
                break
            over_db = _overshoot_db(measured)
            if target_lufs is not None and math.isfinite(measured.lufs):
                gain_db += float(np.clip(target_lufs - measured.lufs, -MAX_STEP_DB, MAX_STEP_DB))
            ceiling -= over_db
            relimit_file(mastered, adjusted[0], gain_db, ceiling)
            source, measured, encodes = adjusted[0], encode(adjusted[0]), encodes + 1
        # Heavily limited audio can make AAC ring past any ceiling the limiter is given: then
        # the level comes down as a whole (the encoder scales with it), loudness paid for peak.
        for _ in range(MAX_SCALES):
            if measured.true_peak_dbtp <= CEILING_DBTP or target_lufs is None:
                break
            over_db = _overshoot_db(measured)
            gain_db -= over_db
            relimit_file(source, adjusted[1], -over_db, ceiling_dbtp=6.0)  # gain alone
            adjusted[1].replace(adjusted[0])
            source, measured, encodes = adjusted[0], encode(adjusted[0]), encodes + 1
    finally:
        for path in adjusted:
            path.unlink(missing_ok=True)
    return Delivery(measured, encodes, round(gain_db, 2), round(ceiling, 2))


def _overshoot_db(measured: Measured) -> float:
    return max(0.0, measured.true_peak_dbtp - CEILING_DBTP + SAFETY_DB)


def _needs_fix(measured: Measured, target_lufs: float | None) -> bool:
    if target_lufs is None:
        return False
    if measured.true_peak_dbtp > CEILING_DBTP:
        return True
    return math.isfinite(measured.lufs) and abs(measured.lufs - target_lufs) > LOUDNESS_TOLERANCE_LU
