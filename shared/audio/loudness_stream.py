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


class StreamingLoudness:
    def __init__(self, sample_rate_hz: int) -> None:
        meter = pyloudnorm.Meter(sample_rate_hz)
        self._stages = [(f.b, f.a, f.passband_gain) for f in meter._filters.values()]
        self._zi = [scipy.signal.lfilter_zi(b, a) * 0.0 for b, a, _ in self._stages]
        self._step = int(round(STEP_S * sample_rate_hz))
        self._carry = np.zeros(0, dtype=np.float64)
        self._steps: list[float] = []

    def feed(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float64)
        for i, (b, a, gain) in enumerate(self._stages):
            x, self._zi[i] = scipy.signal.lfilter(b, a, x, zi=self._zi[i])
            x = x * gain
        x = np.concatenate([self._carry, x])
        n_steps = len(x) // self._step
        if n_steps:
            squares = (x[: n_steps * self._step] ** 2).reshape(n_steps, self._step).mean(axis=1)
            self._steps.extend(squares.tolist())
        self._carry = x[n_steps * self._step :]

    def integrated_lufs(self) -> float:
        steps = np.asarray(self._steps)
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
