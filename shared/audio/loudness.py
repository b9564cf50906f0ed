"""Loudness and peak measurement (ITU-R BS.1770-4), for whole signals.

`integrated_lufs` gates as the standard says (−70 LUFS absolute, −10 LU relative); signals shorter
than one 400 ms block are measured as one block. `true_peak_dbtp` oversamples 4× (BS.1770-4
annex 2) so inter-sample peaks count. Streaming measurement: shared/audio/loudness_stream.py.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyloudnorm
import scipy.signal

SILENCE_LUFS = -70.0


def integrated_lufs(audio: np.ndarray, sample_rate_hz: int) -> float:
    """Integrated loudness in LUFS; -inf for silence."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if not len(x) or not np.any(x):
        return float("-inf")
    block = int(0.4 * sample_rate_hz)
    if len(x) < block:
        x = np.tile(x, int(np.ceil(block / len(x))))[:block]
    meter = pyloudnorm.Meter(sample_rate_hz)
    with np.errstate(divide="ignore"):
        value = float(meter.integrated_loudness(x))
    return value if np.isfinite(value) and value > SILENCE_LUFS else float("-inf")


def true_peak_dbtp(audio: np.ndarray, sample_rate_hz: int) -> float:
    """Maximum true peak in dBTP (4× oversampled); -inf for silence."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if not len(x) or not np.any(x):
        return float("-inf")
    peak = float(np.max(np.abs(oversample(x))))
    return 20.0 * np.log10(max(peak, 1e-12))


def oversample(x: np.ndarray, factor: int = 4) -> np.ndarray:
    """Polyphase 4× interpolation (the BS.1770-4 true-peak meter's first step): what
    `scipy.signal.resample_poly(x, factor, 1, window=("kaiser", 8.0))` returns, with its filter
    designed once (designing it cost more than filtering the short runs the limiter measures)."""
    h, delay = _oversampling_filter(factor)
    y = scipy.signal.upfirdn(h, np.asarray(x, np.float64), factor)[delay : delay + len(x) * factor]
    return y if len(y) == len(x) * factor else np.pad(y, (0, len(x) * factor - len(y)))


@cache
def _oversampling_filter(factor: int) -> tuple[np.ndarray, int]:
    half_len = 10 * factor
    h = scipy.signal.firwin(2 * half_len + 1, 1.0 / factor, window=("kaiser", 8.0)) * factor
    return np.concatenate([[0.0], h]), half_len + 1


def db_to_gain(gain_db: float) -> float:
    return float(10.0 ** (gain_db / 20.0))
