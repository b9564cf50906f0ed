"""Decoded FFmpeg audio frames → float samples in [-1, 1], and the mono downmix."""

from __future__ import annotations

from typing import Any

import numpy as np

# Full-scale divisor per FFmpeg sample format (planar variants end in "p").
_INT_SCALE = {"s16": 2.0**15, "s32": 2.0**31, "s64": 2.0**63}
_FLOAT_FORMATS = {"flt", "dbl"}


def frame_channels(frame: Any) -> np.ndarray:
    """All channels of one frame as float32 ``[channels, samples]``, full scale ±1.

    Float formats are returned unclipped (NaN/Inf and overs included) so the caller can judge
    them; integer formats cannot hold anything but valid samples.
    """
    fmt = frame.format.name
    base = fmt[:-1] if fmt.endswith("p") else fmt
    channels = frame.layout.nb_channels
    raw = frame.to_ndarray()
    if not frame.format.is_planar:  # packed: [1, samples * channels], interleaved
        raw = raw.reshape(-1, channels).T
    if base in _FLOAT_FORMATS:
        return np.asarray(raw, dtype=np.float32)
    if base == "u8":
        return (raw.astype(np.float32) - 128.0) * np.float32(1 / 128)
    scale = _INT_SCALE.get(base)
    if scale is None:
        raise ValueError(f"unexpected sample format {fmt}")
    # float32 keeps 24 significant bits: exact for 16/24-bit PCM, ample for 32-bit.
    return np.multiply(raw, np.float32(1 / scale), dtype=np.float32)


def downmix(channels: np.ndarray) -> np.ndarray:
    """Equal-weight mean of all channels: ``[channels, samples] -> [samples]`` float32.

    The mean keeps a centred voice at its level and cannot clip. (A stereo recording whose
    channels are in opposite polarity would cancel; phones do not produce those.)
    """
    if channels.shape[0] == 1:
        return channels[0]
    return channels.mean(axis=0, dtype=np.float32)
