"""Third-party baselines every SpeakUp engine is judged against: `noisereduce` and `rnnoise`
(and `deepfilternet`, in its own module: deepfilternet_engine.py).

All run offline (no weights to fetch) and keep the engine contract: float32 mono in, float32
mono out, same length, time-aligned with the input. `strength` (0..1) mixes the denoised signal
with the input, so 0 is the input unchanged.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util

import numpy as np

from services.enhancer.engines import register

# RNNoise runs at 48 kHz on 10 ms frames; its output lags its input by two frames (measured:
# 960 samples at 48 kHz), which we remove so metrics compare the same instants.
RNNOISE_RATE_HZ = 48_000
RNNOISE_FRAME = 480
RNNOISE_DELAY_48K = 960
INT16_SCALE = 32_768.0  # RNNoise's model was trained on int16-range floats


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _blend(denoised: np.ndarray, audio: np.ndarray, strength: float) -> np.ndarray:
    strength = float(np.clip(strength, 0.0, 1.0))
    return (strength * denoised + (1.0 - strength) * audio).astype(np.float32)


def _resample(audio: np.ndarray, rate_hz: int, target_rate_hz: int) -> np.ndarray:
    if rate_hz == target_rate_hz:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    return soxr.resample(audio, rate_hz, target_rate_hz, quality="HQ").astype(np.float32)


class NoiseReduceEngine:
    """Spectral gating (Sainburg 2020, `noisereduce`), non-stationary mode: the noise floor is a
    smoothed running estimate per frequency, so it also follows changing noise."""

    name = "noisereduce"

    def __init__(self) -> None:
        import noisereduce

        self._reduce_noise = noisereduce.reduce_noise
        self.version = _version("noisereduce")

    def enhance(self, audio: np.ndarray, sample_rate_hz: int, strength: float = 1.0) -> np.ndarray:
        x = np.asarray(audio, dtype=np.float32).reshape(-1)
        if len(x) == 0 or strength <= 0:
            return x.copy()
        denoised = self._reduce_noise(
            y=x,
            sr=sample_rate_hz,
            stationary=False,
            prop_decrease=float(min(strength, 1.0)),
            n_jobs=1,
        )
        denoised = np.asarray(denoised, dtype=np.float32).reshape(-1)[: len(x)]
        if len(denoised) < len(x):
            denoised = np.pad(denoised, (0, len(x) - len(denoised)))
        return denoised


class RNNoiseEngine:
    """RNNoise (Valin 2018) from the `pyrnnoise` wheel, which compiles the model in.

    We call the C library frame by frame rather than through `pyrnnoise.RNNoise`: that wrapper
    quantises to int16 and resamples through its own filter graph; here resampling is soxr and
    the signal stays float, and the fixed 20 ms delay is removed exactly.
    """

    name = "rnnoise"

    def __init__(self) -> None:
        from pyrnnoise import rnnoise as _rnnoise

        if _rnnoise.FRAME_SIZE != RNNOISE_FRAME:
            raise RuntimeError(f"unexpected RNNoise frame size {_rnnoise.FRAME_SIZE}")
        self._lib = _rnnoise.lib
        self.version = _version("pyrnnoise")

    def _denoise_48k(self, x_48k: np.ndarray) -> np.ndarray:
        """x_48k: [T] float32 at 48 kHz, int16 range → [T] denoised, delay removed."""
        n_frames = -(-(len(x_48k) + RNNOISE_DELAY_48K) // RNNOISE_FRAME)
        buffer = np.zeros(n_frames * RNNOISE_FRAME, dtype=np.float32)
        buffer[: len(x_48k)] = x_48k
        float_ptr = ctypes.POINTER(ctypes.c_float)
        state = self._lib.rnnoise_create(None)
        try:
            frame = np.empty(RNNOISE_FRAME, dtype=np.float32)
            pointer = frame.ctypes.data_as(float_ptr)
            for start in range(0, len(buffer), RNNOISE_FRAME):
                frame[:] = buffer[start : start + RNNOISE_FRAME]
                self._lib.rnnoise_process_frame(state, pointer, pointer)
                buffer[start : start + RNNOISE_FRAME] = frame
        finally:
            self._lib.rnnoise_destroy(state)
        return buffer[RNNOISE_DELAY_48K : RNNOISE_DELAY_48K + len(x_48k)]

    def enhance(self, audio: np.ndarray, sample_rate_hz: int, strength: float = 1.0) -> np.ndarray:
        x = np.asarray(audio, dtype=np.float32).reshape(-1)
        if len(x) == 0 or strength <= 0:
            return x.copy()
        x_48k = _resample(x, sample_rate_hz, RNNOISE_RATE_HZ) * INT16_SCALE
        denoised = self._denoise_48k(x_48k) / INT16_SCALE
        denoised = _resample(denoised, RNNOISE_RATE_HZ, sample_rate_hz)
        if len(denoised) < len(x):
            denoised = np.pad(denoised, (0, len(x) - len(denoised)))
        return _blend(denoised[: len(x)], x, strength)


register("noisereduce", NoiseReduceEngine, available=lambda: _has("noisereduce"))
register("rnnoise", RNNoiseEngine, available=lambda: _has("pyrnnoise"))
