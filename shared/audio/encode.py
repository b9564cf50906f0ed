"""Write delivered audio (WAV or FLAC, 16- or 24-bit) with soundfile, atomically."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

AudioFormat = Literal["wav", "flac"]
_CONTENT_TYPES = {"wav": "audio/wav", "flac": "audio/flac"}
_SUBTYPES = {16: "PCM_16", 24: "PCM_24"}
_WAV_LIMIT_BYTES = 4 * 1024**3 - 1024 * 1024  # RIFF sizes are 32-bit; past this, RF64


def content_type_for(fmt: str) -> str:
    """The MIME type a delivered file of format ``fmt`` is stored and served with."""
    try:
        return _CONTENT_TYPES[fmt]
    except KeyError:
        raise ValueError(f"unknown output format {fmt!r} (expected wav or flac)") from None


def encode_audio(
    path: Path | str,
    audio: np.ndarray,
    sample_rate_hz: int,
    fmt: AudioFormat = "wav",
    bit_depth: Literal[16, 24] = 16,
) -> None:
    """Write ``audio`` (``[samples]`` or ``[samples, channels]`` float, ±1 full scale).

    Samples beyond ±1 are clipped here on purpose: integer PCM would wrap them around into
    loud clicks. Mastering (a true-peak limiter) should already have kept them inside.
    """
    content_type_for(fmt)
    if bit_depth not in _SUBTYPES:
        raise ValueError(f"bit_depth must be 16 or 24, got {bit_depth}")
    samples = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32)), -1.0, 1.0)
    container = "FLAC" if fmt == "flac" else "WAV"
    if container == "WAV" and samples.size * bit_depth // 8 > _WAV_LIMIT_BYTES:
        container = "RF64"
    dst = Path(path)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.part")
    try:
        sf.write(tmp, samples, sample_rate_hz, subtype=_SUBTYPES[bit_depth], format=container)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
