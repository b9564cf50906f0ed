"""ITU-R BS.1770-4 integrated loudness of a stream, block by block, in constant memory.

The K-weighting filters keep their state between blocks; the mean square is kept per 100 ms step,
and the 400 ms gating blocks (75 % overlap) are four consecutive steps — so a 2-hour file costs
72,000 floats, not the file. Gating as in BS.1770-4: absolute −70 LUFS, then relative −10 LU.
Agrees with pyloudnorm on whole signals (tested).
"""

from __future__ import annotations

import numpy as np
import pyloudnorm
import scipy.signal

STEP_S = 0.1
STEPS_PER_BLOCK = 4


def step_samples(sample_rate_hz: int) -> int:
    return int(round(STEP_S * sample_rate_hz))


class KWeighting:
    """pyloudnorm's two K-weighting stages (shelf, high-pass) as one second-order-sections
    cascade with state kept between blocks: one `sosfilt` call costs what one of the two
    `lfilter` calls did."""

    def __init__(self, sample_rate_hz: int) -> None:
        meter = pyloudnorm.Meter(sample_rate_hz)
        sections, gain = [], 1.0
        for f in meter._filters.values():
            b, a = np.asarray(f.b, np.float64), np.asarray(f.a, np.float64)
            sections.append(np.concatenate([b / a[0], a / a[0]]))
            gain *= f.passband_gain
        self._sos = np.array(sections)
        self._sos[0, :3] *= gain
        self._zi = np.zeros((len(sections), 2))

    def __call__(self, block: np.ndarray) -> np.ndarray:
        """block: [T] → its K-weighted samples [T], float64."""
        y, self._zi = scipy.signal.sosfilt(self._sos, np.asarray(block, np.float64), zi=self._zi)
        return y


def gated_lufs(step_mean_squares: np.ndarray) -> float:
    """Integrated loudness from K-weighted mean squares per 100 ms step (BS.1770-4 gating)."""
    steps = np.asarray(step_mean_squares, np.float64)
    if len(steps) < STEPS_PER_BLOCK:
        return float("-inf")
    windows = np.lib.stride_tricks.sliding_window_view(steps, STEPS_PER_BLOCK).mean(axis=1)
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(windows)
    gated = windows[block_lufs >= -70.0]
    if not len(gated):
        return float("-inf")
    relative = -0.691 + 10 * np.log10(gated.mean()) - 10.0
    gated = windows[(block_lufs >= -70.0) & (block_lufs >= relative)]
    if not len(gated):
        return float("-inf")
    return float(-0.691 + 10 * np.log10(gated.mean()))


class StreamingLoudness:
    def __init__(self, sample_rate_hz: int) -> None:
        self._weighting = KWeighting(sample_rate_hz)
        self._step = step_samples(sample_rate_hz)
        self._carry = np.zeros(0, dtype=np.float64)
        self._steps: list[np.ndarray] = []

    def feed(self, block: np.ndarray) -> None:
        x = np.concatenate([self._carry, self._weighting(block)])
        n_steps = len(x) // self._step
        if n_steps:
            squares = x[: n_steps * self._step] ** 2
            self._steps.append(squares.reshape(n_steps, self._step).mean(axis=1))
        self._carry = x[n_steps * self._step :]

    def integrated_lufs(self) -> float:
        return gated_lufs(np.concatenate(self._steps) if self._steps else np.zeros(0))
