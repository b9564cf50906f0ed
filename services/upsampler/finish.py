"""Last steps of the chain at the output rate: (48 → 44.1 kHz), mastering to the preset's loudness
target with a true-peak limit, and encoding in the requested format."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from shared.audio.mastering import master


def finish_file(src: Path, dst: Path, *, target_rate_hz: int, preset: str, fmt: str,
                bit_depth: int, progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Master `src` (mono WAV) into `dst`; returns the measurements recorded on the job."""
    audio, rate = sf.read(str(src), dtype="float32", always_2d=True)
    audio = audio[:, 0]
    if rate != target_rate_hz:
        n_out = int(round(len(audio) * target_rate_hz / rate))
        audio = soxr.resample(audio, rate, target_rate_hz, quality="VHQ")[:n_out].astype(np.float32)
        rate = target_rate_hz
    if progress is not None:
        progress(0.3)
    mastered, report = master(audio, rate, preset)
    if progress is not None:
        progress(0.8)
    subtype = "PCM_24" if bit_depth == 24 else "PCM_16"
    sf.write(str(dst), np.clip(mastered, -1.0, 1.0), rate, subtype=subtype,
             format="FLAC" if fmt == "flac" else "WAV")
    if progress is not None:
        progress(1.0)
    values = report if isinstance(report, dict) else vars(report)
    return {
        "output_lufs": _r(values.get("output_lufs")),
        "output_true_peak_dbtp": _r(values.get("true_peak_dbtp")),
        "mastering_gain_db": _r(values.get("gain_db")),
        "output_sample_rate_hz": rate,
        "output_duration_s": round(len(mastered) / rate, 3),
        "preset": preset,
    }


def _r(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return round(value, 2) if np.isfinite(value) else None
