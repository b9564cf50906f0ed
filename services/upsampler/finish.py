"""Last steps of the chain at the output rate: (48 → 44.1 kHz), mastering to the preset's loudness
target with a true-peak limit, and delivery in the requested format (`shared.audio.deliver`:
lossy files are decoded again and measured, video inputs keep their picture).

Files up to `WHOLE_FILE_MAX_S` (2 min) are mastered whole (with the leveler); longer ones stream
through `master_file` in constant memory: a 2-hour podcast costs no more RAM than a 2-minute memo.
WAV and FLAC are mastered straight into the delivered file (one writing pass; the `encode` stage
then takes no time); lossy formats go through a mastered float WAV that `deliver` encodes.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from shared.audio.deliver import deliver, mastering_ceiling_dbtp
from shared.audio.formats import OutputFormat, delivered_rate_hz, get_format
from shared.audio.mastering import PRESET_LUFS, master, master_file
from shared.audio.publish import open_lossless
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
            if not fmt.lossy:  # one writing pass: mastered straight into the delivered file
                report = _master_lossless(src, dst, preset, fmt, rate_hz, bit_depth, tags,
                                          ceiling, lambda f: tell(0.2 + 0.7 * f))
                delivery = None
            else:
                mastered = Path(tmp, "mastered.wav")
                report = _master(src, mastered, preset, ceiling,
                                 lambda f: tell(0.2 + 0.7 * f))
            tell(0.9)
        if fmt.lossy:
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
    if delivery is not None and delivery.measured is not None:  # lossy: the file decoded
        metrics.update(output_lufs=_r(delivery.measured.lufs),
                       output_true_peak_dbtp=_r(delivery.measured.true_peak_dbtp),
                       output_duration_s=round(delivery.measured.duration_s, 3),
                       encodes=delivery.encodes)
    return metrics


def _master(src: Path, dst: Path | sf.SoundFile, preset: str, ceiling: float,
            progress: Callable[[float], None]) -> dict[str, Any]:
    """Short files whole (with the leveler), longer ones streamed."""
    if sf.info(str(src)).duration <= WHOLE_FILE_MAX_S:
        audio, rate = sf.read(str(src), dtype="float32", always_2d=True)
        out, report = master(audio[:, 0], rate, preset, ceiling_dbtp=ceiling)
        if isinstance(dst, sf.SoundFile):
            dst.write(out)
        else:
            sf.write(str(dst), out, rate, subtype="FLOAT", format="WAV")
        return report
    return master_file(src, dst, preset, ceiling_dbtp=ceiling, progress=progress)


def _master_lossless(src: Path, dst: Path, preset: str, fmt: OutputFormat, rate_hz: int,
                     bit_depth: int, tags: Mapping[str, str] | None, ceiling: float,
                     progress: Callable[[float], None]) -> dict[str, Any]:
    """Master into `dst` (WAV/FLAC, tagged), written beside and renamed: never half a file."""
    part = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.part")
    try:
        with open_lossless(part, fmt, rate_hz, bit_depth, tags) as writer:
            report = _master(src, writer, preset, ceiling, progress)
        os.replace(part, dst)
    finally:
        part.unlink(missing_ok=True)
    return report


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
