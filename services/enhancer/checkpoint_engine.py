"""Engines served from a trained checkpoint under models/: one class for every model family.

`register_checkpoint_engine("erbnet", "erbnet/erbnet_small.pt", "erbnet")` makes the engine
available exactly when the file exists under the models folder (shared/model_files.py), or the
file SPEAKUP_ERBNET_CHECKPOINT names. The registry builds an engine once per process, so the
model loads once per worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch

from services.enhancer import engines
from services.enhancer.checkpoint import build_enhancer, load_checkpoint
from services.enhancer.inference import enhance, pick_device
from shared.model_files import model_file

MAX_BLOCK_WORKERS = 4  # each block in flight holds its activations


class CheckpointEngine:
    """enhance(audio, rate, strength): the checkpoint's network over chunks; `strength` 0..1
    blends the input back in (0 = unchanged, 1 = fully enhanced)."""

    def __init__(self, name: str, path: Path | Callable[[], Path], family: str) -> None:
        device = pick_device()
        bundle = load_checkpoint(path() if callable(path) else path, device, family=family)
        self.name = name
        self.device = device
        self.model = build_enhancer(bundle).to(device)
        self.version = f"{bundle['config']['name']}-step{bundle['step']}"

    def enhance(self, audio: np.ndarray, sample_rate_hz: int, strength: float = 1.0
                ) -> np.ndarray:
        audio = np.asarray(audio, dtype=np.float32)
        out = enhance(self.model, audio, sample_rate_hz)
        strength = float(np.clip(strength, 0.0, 1.0))
        return (strength * out + (1.0 - strength) * audio).astype(np.float32)


    def block_workers(self) -> int:
        """Blocks to enhance at once: on CPU one per core (up to `MAX_BLOCK_WORKERS`), each on
        one thread — a recurrent network spreads badly over threads (ErbNet on 2 cores: two
        blocks × one thread 2.0× faster than one block × two threads); on a GPU one."""
        if self.device.type != "cpu":
            return 1
        workers = min(len(os.sched_getaffinity(0)), MAX_BLOCK_WORKERS)
        if workers > 1:
            torch.set_num_threads(1)
        return workers


def register_checkpoint_engine(name: str, relative_path: str, family: str
                               ) -> tuple[Callable[[], CheckpointEngine], Callable[[], bool]]:
    """Engine `name` from <models>/<relative_path>; SPEAKUP_<NAME>_CHECKPOINT overrides it.

    Returns (factory, available) for the module that registers it.
    """
    path = partial(model_file, relative_path, f"SPEAKUP_{name.upper()}_CHECKPOINT")

    def available() -> bool:
        return path().is_file()

    factory = partial(CheckpointEngine, name, path, family)
    engines.register(name, factory, available)
    return factory, available
