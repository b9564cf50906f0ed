"""The enhancer's engine registry: one name → one way to clean 16 kHz speech.

Every engine is a plain object with `name`, `version` and
`enhance(audio, sample_rate_hz, strength) -> audio` (float32 mono, same length and rate).
The Celery task, `speakup enhance` and the evaluation harness all pick engines here, so any engine
can be run and compared from anywhere. Engines are built lazily, once per process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

SAMPLE_RATE_HZ = 16_000


class EnhanceEngine(Protocol):
    name: str
    version: str

    def enhance(
        self, audio: np.ndarray, sample_rate_hz: int, strength: float = 1.0
    ) -> np.ndarray:  # pragma: no cover - protocol
        """audio: [T] float32 mono at `sample_rate_hz` → [T] float32 mono, same rate."""
        ...


class UnknownEngineError(LookupError):
    """The options named an engine that is not registered or cannot load here."""


_factories: dict[str, Callable[[], EnhanceEngine]] = {}
_available: dict[str, Callable[[], bool]] = {}
_instances: dict[str, EnhanceEngine] = {}
_lock = threading.Lock()


def register(
    name: str,
    factory: Callable[[], EnhanceEngine],
    available: Callable[[], bool] = lambda: True,
) -> None:
    """Add an engine. `available` says cheaply whether it can load (package, checkpoint)."""
    _factories[name] = factory
    _available[name] = available


def names() -> list[str]:
    """Registered engines that can load on this machine."""
    _load_builtin()
    return [n for n in _factories if _available[n]()]


def get(name: str) -> EnhanceEngine:
    """The engine called `name` ("auto" resolves first), built once per process."""
    _load_builtin()
    name = resolve(name)
    if name not in _factories or not _available[name]():
        raise UnknownEngineError(f"unknown enhancement engine {name!r}; have {names()}")
    with _lock:
        if name not in _instances:
            _instances[name] = _factories[name]()
        return _instances[name]


def block_workers(engine: EnhanceEngine) -> int:
    """How many blocks of a file to enhance at once (`shared.audio.blocks.process_file`): what
    the engine says it can run in parallel (`block_workers()`), else one."""
    workers = getattr(engine, "block_workers", None)
    return int(workers()) if callable(workers) else 1


def resolve(name: str) -> str:
    """Map "auto" to the best engine installed by the measured rows of the last recorded
    `make eval` (services/enhancer/auto.py has the rule), else `dsp`, else `passthrough`."""
    if name != "auto":
        return name
    _load_builtin()
    from services.enhancer.auto import auto_engine_name

    return auto_engine_name(names())


class PassthroughEngine:
    """Returns its input unchanged: the honest 'no enhancement' engine, used to judge the
    upsampler on its own and as the `noisy` row of the evaluation harness."""

    name = "passthrough"
    version = "1"

    def enhance(self, audio: np.ndarray, sample_rate_hz: int, strength: float = 1.0) -> np.ndarray:
        return np.asarray(audio, dtype=np.float32).copy()


_builtin_loaded = False


def _load_builtin() -> None:
    """Import the modules that register the built-in engines (once)."""
    global _builtin_loaded
    if _builtin_loaded:
        return
    _builtin_loaded = True
    register("passthrough", PassthroughEngine)
    import importlib

    for module in ("services.enhancer.dsp.engine", "services.enhancer.baselines",
                   "services.enhancer.deepfilternet_engine", "services.enhancer.hifigan_engine",
                   "services.enhancer.erbnet.engine"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a part not built yet, or its package not installed
            if not (exc.name or "").startswith(("services.enhancer", module.split(".")[0])):
                raise
