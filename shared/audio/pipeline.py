"""Decoded frames → checks → mono → soxr streaming resampler → sink, in ~0.5 s blocks.

Besides its sink at ``target_rate_hz``, a pipeline can feed ``taps``: further (rate, sink) pairs,
each with its own resampler (none where the frames already have its rate) — e.g. the input at its
own rate, for the band above 8 kHz that the 16 kHz decode drops (`shared.audio.bandsplit`).

Codec frames are small (AAC: 1024 samples, 21 ms at 48 kHz); the cost per call of numpy, soxr
and soundfile, not the samples, dominated when each frame went through alone. Frames are
therefore gathered into blocks and everything after `frame_channels` runs once per block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import soxr

from shared.audio.errors import AudioRejected
from shared.audio.frames import downmix, frame_channels

Sink = Callable[[np.ndarray], None]
BLOCK_SAMPLES = 24000


class FramePipeline:
    """Feeds decoded frames to ``sink`` as mono float32 at ``target_rate_hz``.

    ``float_code`` names what NaN/Inf/overs in float frames mean (``invalid_samples`` for float
    PCM stored by the user, ``corrupt_audio`` for a lossy decoder fed garbage). Measures the
    decoded duration (``samples_s``) and the peak over all channels (``peak``).
    """

    def __init__(
        self,
        target_rate_hz: int,
        sink: Sink,
        *,
        max_channels: int,
        sample_rate_range_hz: tuple[int, int],
        max_abs_sample: float,
        float_code: str,
        taps: Sequence[tuple[int, Sink]] = (),
    ) -> None:
        self.target_rate_hz = target_rate_hz
        self.samples_s = 0.0
        self.peak = 0.0
        self.channels = 0
        self.rate_hz = 0
        self._max_channels = max_channels
        self._rate_range_hz = sample_rate_range_hz
        self._max_abs_sample = max_abs_sample
        self._float_code = float_code
        self._outputs = [(target_rate_hz, sink), *taps]
        self._resamplers: list[soxr.ResampleStream | None] = [None] * len(self._outputs)
        self._pending: list[np.ndarray] = []
        self._pending_samples = 0
        self._pending_float = False

    def add(self, frame: Any) -> None:
        samples, rate_hz = frame.samples, frame.sample_rate
        if not samples or not rate_hz:
            return
        channels = frame.layout.nb_channels
        if channels > self._max_channels:
            raise AudioRejected("too_many_channels", detail=f"{channels} channels in a frame")
        low, high = self._rate_range_hz
        if not low <= rate_hz <= high:
            raise AudioRejected("unsupported_sample_rate", detail=f"{rate_hz} Hz in a frame")
        if rate_hz != self.rate_hz or channels != self.channels:
            self._flush_block(end_of_rate=rate_hz != self.rate_hz)
            if rate_hz != self.rate_hz:
                self._resamplers = [
                    None if rate == rate_hz
                    else soxr.ResampleStream(rate_hz, rate, 1, dtype="float32", quality="HQ")
                    for rate, _ in self._outputs
                ]
            self.rate_hz, self.channels = rate_hz, channels
        self._pending.append(frame_channels(frame))
        self._pending_float |= frame.format.name.rstrip("p") in ("flt", "dbl")
        self._pending_samples += samples
        self.samples_s += samples / rate_hz
        if self._pending_samples >= BLOCK_SAMPLES:
            self._flush_block(end_of_rate=False)

    def finish(self) -> None:
        self._flush_block(end_of_rate=True)

    def _flush_block(self, *, end_of_rate: bool) -> None:
        if self._pending:
            block = np.concatenate(self._pending, axis=1)
            magnitude = np.abs(block)
            if self._pending_float:
                if not np.isfinite(magnitude).all():
                    raise AudioRejected(self._float_code, detail="NaN or Inf")
                if float(magnitude.max()) > self._max_abs_sample:
                    raise AudioRejected(self._float_code, detail="far beyond full scale")
            self.peak = max(self.peak, float(magnitude.max()))
            mono = downmix(block)
        else:
            mono = np.zeros(0, np.float32)
        self._pending, self._pending_samples, self._pending_float = [], 0, False
        for (_, sink), resampler in zip(self._outputs, self._resamplers, strict=True):
            out = mono if resampler is None else resampler.resample_chunk(mono, last=end_of_rate)
            if len(out):
                sink(np.ascontiguousarray(out, dtype=np.float32))
