"""Last steps of the chain at the output rate: (48 → 44.1 kHz), mastering to the preset's loudness
target with a true-peak limit, and delivery in the requested format (`shared.audio.deliver`:
lossy files are decoded again and measured, video inputs keep their picture).

Files up to `WHOLE_FILE_MAX_S` (2 min) are mastered whole (with the leveler); longer ones stream
through `master_file` in constant memory: a 2-hour podcast costs no more RAM than a 2-minute memo.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from shared.audio.deliver import deliver, mastering_ceiling_dbtp
from shared.audio.formats import OutputFormat, delivered_rate_hz, get_format
from shared.audio.mastering import PRESET_LUFS, master, master_file
from shared.timing import StageClock

WHOLE_FILE_MAX_S = 120.0  # whole-signal mastering costs ~7 MiB per second of 48 kHz audio
BLOCK_S = 30.0


def finish_file(src: Path, dst: Path, *, target_rate_hz: int, preset: str,
                fmt: OutputFormat | str, bit_depth: int, bitrate_kbps: int | None = None,
                tags: Mapping[str, str] | None = None, video_src: Path | None = None,
                progress: Callable[[float], None] | None = None,
                clock: StageClock | None = None) -> dict[str, Any]:
    """Master `src` (mono WAV) and deliver it as `dst`; returns the measurements recorded on the
    job (for lossy formats, of the delivered file decoded again). ``video_src``: the input whose
    video stream(s) a video format copies; ``clock``: gets the `master` and `encode` seconds."""
    clock = clock or StageClock()
    tell = progress or (lambda _: None)
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt
    rate_hz = delivered_rate_hz(fmt, target_rate_hz)
    ceiling = mastering_ceiling_dbtp(fmt)
    with tempfile.TemporaryDirectory(prefix="speakup-fin-") as tmp:
        with clock.stage("master"):
            info = sf.info(str(src))
            if info.samplerate != rate_hz:
                resampled = Path(tmp, "resampled.wav")
                resample_file(src, resampled, rate_hz)
                src = resampled
            tell(0.2)
            mastered = Path(tmp, "mastered.wav")
            if sf.info(str(src)).duration <= WHOLE_FILE_MAX_S:
                audio, rate = sf.read(str(src), dtype="float32", always_2d=True)
                out, report = master(audio[:, 0], rate, preset, ceiling_dbtp=ceiling)
                sf.write(str(mastered), np.clip(out, -1.0, 1.0), rate, subtype="FLOAT",
                         format="WAV")
            else:
                report = master_file(src, mastered, preset, subtype="FLOAT", fmt="wav",
                                     ceiling_dbtp=ceiling, progress=lambda f: tell(0.2 + 0.7 * f))
            tell(0.9)
        with clock.stage("encode"):
            delivery = deliver(mastered, dst, fmt, rate_hz=rate_hz,
                               target_lufs=PRESET_LUFS[preset], bit_depth=bit_depth,
                               bitrate_kbps=bitrate_kbps, tags=tags, video_src=video_src)
    tell(1.0)
    metrics: dict[str, Any] = {
        "output_lufs": _r(report.get("output_lufs")),
        "output_true_peak_dbtp": _r(report.get("true_peak_dbtp")),
        "mastering_gain_db": _r(report.get("gain_db")),
        "output_sample_rate_hz": rate_hz,
        "output_duration_s": round(sf.info(str(dst)).duration, 3) if not fmt.lossy else None,
        "output_format": fmt.name,
        "preset": preset,
    }
    if delivery.measured is not None:  # lossy: what the delivered file decodes to
        metrics.update(output_lufs=_r(delivery.measured.lufs),
                       output_true_peak_dbtp=_r(delivery.measured.true_peak_dbtp),
                       output_duration_s=round(delivery.measured.duration_s, 3),
                       encodes=delivery.encodes)
    return metrics


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
