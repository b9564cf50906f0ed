"""Decoded FFmpeg audio frames → float samples in [-1, 1], and the mono downmix."""

from __future__ import annotations

from typing import Any

import numpy as np

# Full-scale divisor per FFmpeg sample format (planar variants end in "p").
_INT_SCALE = {"s16": 2.0**15, "s32": 2.0**31, "s64": 2.0**63}
_DTYPES: dict[str, type[np.generic]] = {
    "u8": np.uint8, "s16": np.int16, "s32": np.int32, "s64": np.int64,
    "flt": np.float32, "dbl": np.float64,
}  # fmt: skip


def _raw_samples(frame: Any, base: str, channels: int) -> np.ndarray:
    """``[channels, samples]`` straight from the frame's buffers (no copy; `to_ndarray` stacks
    and copies, which cost more than decoding for short AAC frames)."""
    dtype, samples = _DTYPES[base], frame.samples
    if frame.format.is_planar:
        planes = frame.planes
        if channels == 1:
            return np.frombuffer(planes[0], dtype, count=samples)[None, :]
        return np.stack([np.frombuffer(p, dtype, count=samples) for p in planes[:channels]])
    packed = np.frombuffer(frame.planes[0], dtype, count=samples * channels)
    return packed.reshape(samples, channels).T


def frame_channels(frame: Any) -> np.ndarray:
    """All channels of one frame as float32 ``[channels, samples]``, full scale ±1.

    Float formats are returned unclipped (NaN/Inf and overs included) so the caller can judge
    them; integer formats cannot hold anything but valid samples.
    """
    fmt = frame.format.name
    base = fmt[:-1] if fmt.endswith("p") else fmt
    if base not in _DTYPES:
        raise ValueError(f"unexpected sample format {fmt}")
    raw = _raw_samples(frame, base, frame.layout.nb_channels)
    if base == "flt":
        return raw.copy()  # the frame's buffer is reused by the decoder
    if base == "dbl":
        return raw.astype(np.float32)
    if base == "u8":
        return (raw.astype(np.float32) - 128.0) * np.float32(1 / 128)
    # float32 keeps 24 significant bits: exact for 16/24-bit PCM, ample for 32-bit.
    return np.multiply(raw, np.float32(1 / _INT_SCALE[base]), dtype=np.float32)


def downmix(channels: np.ndarray) -> np.ndarray:
    """Equal-weight mean of all channels: ``[channels, samples] -> [samples]`` float32.

    The mean keeps a centred voice at its level and cannot clip. (A stereo recording whose
    channels are in opposite polarity would cancel; phones do not produce those.)
    """
    if channels.shape[0] == 1:
        return channels[0]
    return channels.mean(axis=0, dtype=np.float32)
