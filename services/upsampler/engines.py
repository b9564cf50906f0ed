"""The upsampler's engine registry: one name → one way from 16 kHz to the output rate.

Every engine has `name`, `version` and
`upsample(audio, sample_rate_hz, target_rate_hz) -> audio` (float32 mono; output length
`round(len(audio) * target_rate_hz / sample_rate_hz)`). `resample` (soxr) is the fallback when no
trained model is installed. TensorFlow-only: nothing here imports torch.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np
import soxr


class UpsampleEngine(Protocol):
    name: str
    version: str

    def upsample(
        self, audio: np.ndarray, sample_rate_hz: int, target_rate_hz: int
    ) -> np.ndarray:  # pragma: no cover - protocol
        """audio: [T] float32 → [round(T * target / rate)] float32."""
        ...


class UnknownEngineError(LookupError):
    pass


def output_length(n_samples: int, sample_rate_hz: int, target_rate_hz: int) -> int:
    return int(round(n_samples * target_rate_hz / sample_rate_hz))


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Trim or zero-pad to exactly `n_samples`."""
    if len(audio) >= n_samples:
        return audio[:n_samples]
    return np.pad(audio, (0, n_samples - len(audio)))


class ResampleEngine:
    """Band-limited resampling with soxr (VHQ): adds no new high-frequency content."""

    name = "resample"
    version = f"soxr-{soxr.__version__}"

    def upsample(self, audio: np.ndarray, sample_rate_hz: int, target_rate_hz: int) -> np.ndarray:
        audio = np.asarray(audio, dtype=np.float32)
        if sample_rate_hz == target_rate_hz:
            return audio.copy()
        out = soxr.resample(audio, sample_rate_hz, target_rate_hz, quality="VHQ")
        n_out = output_length(len(audio), sample_rate_hz, target_rate_hz)
        return fit_length(out.astype(np.float32), n_out)


_factories: dict[str, Callable[[], UpsampleEngine]] = {}
_available: dict[str, Callable[[], bool]] = {}
_instances: dict[str, UpsampleEngine] = {}
_lock = threading.Lock()
_builtin_loaded = False


def register(
    name: str, factory: Callable[[], UpsampleEngine], available: Callable[[], bool] = lambda: True
) -> None:
    _factories[name] = factory
    _available[name] = available


def names() -> list[str]:
    _load_builtin()
    return [n for n in _factories if _available[n]()]


def resolve(name: str) -> str:
    """"auto" → `unet` only where its model card shows it beats `resample` on mean LSD without
    lowering SNR (the bar of the super-resolution issue); else `resample`."""
    if name != "auto":
        return name
    if "unet" in names():
        from services.upsampler.unet_engine import beats_resample

        if beats_resample():
            return "unet"
    return "resample"


def get(name: str) -> UpsampleEngine:
    _load_builtin()
    name = resolve(name)
    if name not in _factories or not _available[name]():
        raise UnknownEngineError(f"unknown upsampling engine {name!r}; have {names()}")
    with _lock:
        if name not in _instances:
            _instances[name] = _factories[name]()
        return _instances[name]


def _load_builtin() -> None:
    global _builtin_loaded
    if _builtin_loaded:
        return
    _builtin_loaded = True
    register("resample", ResampleEngine)
    for module in ("services.upsampler.unet_engine",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith(("services.upsampler", "tensorflow")):
                raise
