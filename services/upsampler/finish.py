"""Last steps of the chain at the output rate: (48 → 44.1 kHz), mastering to the preset's loudness
target with a true-peak limit, and encoding in the requested format.

Files up to `WHOLE_FILE_MAX_S` (2 min) are mastered whole (with the leveler); longer ones stream
through `master_file` in constant memory: a 2-hour podcast costs no more RAM than a 2-minute memo.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from shared.audio.mastering import master, master_file

WHOLE_FILE_MAX_S = 120.0  # whole-signal mastering costs ~7 MiB per second of 48 kHz audio
BLOCK_S = 30.0


def finish_file(src: Path, dst: Path, *, target_rate_hz: int, preset: str, fmt: str,
                bit_depth: int, progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Master `src` (mono WAV) into `dst`; returns the measurements recorded on the job."""
    tell = progress or (lambda _: None)
    subtype = "PCM_24" if bit_depth == 24 else "PCM_16"
    with tempfile.TemporaryDirectory(prefix="speakup-fin-") as tmp:
        info = sf.info(str(src))
        if info.samplerate != target_rate_hz:
            resampled = Path(tmp, "resampled.wav")
            resample_file(src, resampled, target_rate_hz)
            src = resampled
        tell(0.2)
        if sf.info(str(src)).duration <= WHOLE_FILE_MAX_S:
            audio, rate = sf.read(str(src), dtype="float32", always_2d=True)
            mastered, report = master(audio[:, 0], rate, preset)
            sf.write(str(dst), np.clip(mastered, -1.0, 1.0), rate, subtype=subtype,
                     format="FLAC" if fmt == "flac" else "WAV")
        else:
            report = master_file(src, dst, preset, subtype=subtype, fmt=fmt,
                                 progress=lambda f: tell(0.2 + 0.8 * f))
    tell(1.0)
    out = sf.info(str(dst))
    return {
        "output_lufs": _r(report.get("output_lufs")),
        "output_true_peak_dbtp": _r(report.get("true_peak_dbtp")),
        "mastering_gain_db": _r(report.get("gain_db")),
        "output_sample_rate_hz": out.samplerate,
        "output_duration_s": round(out.duration, 3),
        "preset": preset,
    }


def resample_file(src: Path, dst: Path, target_rate_hz: int) -> None:
    """Stream-resample a mono WAV with soxr; exact length round(n × target / rate)."""
    info = sf.info(str(src))
    n_out = int(round(info.frames * target_rate_hz / info.samplerate))
    stream = soxr.ResampleStream(info.samplerate, target_rate_hz, 1, dtype="float32",
                                 quality="VHQ")
    written = 0
    with sf.SoundFile(str(src)) as reader, sf.SoundFile(
        str(dst), "w", samplerate=target_rate_hz, channels=1, subtype="FLOAT", format="WAV"
    ) as writer:
        for chunk in reader.blocks(blocksize=int(BLOCK_S * info.samplerate), dtype="float32"):
            last = reader.tell() >= info.frames
            y = stream.resample_chunk(chunk.reshape(-1), last=last)
            y = y[: max(n_out - written, 0)]
            writer.write(y)
            written += len(y)
        if written < n_out:
            writer.write(np.zeros(n_out - written, dtype=np.float32))


def _r(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return round(value, 2) if np.isfinite(value) else None
