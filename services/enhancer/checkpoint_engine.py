"""Engines served from a trained checkpoint under models/: one class for every model family.

`register_checkpoint_engine("erbnet", "erbnet/erbnet_small.pt", "erbnet")` makes the engine
available exactly when the file exists (an environment variable can point elsewhere). The
registry builds an engine once per process, so the model loads once per worker.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from services.enhancer import engines
from services.enhancer.checkpoint import build_enhancer, load_checkpoint
from services.enhancer.inference import enhance, pick_device

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def checkpoint_path(relative_path: str, env_var: str) -> Path:
    return Path(os.environ.get(env_var, MODELS_DIR / relative_path))


class CheckpointEngine:
    """enhance(audio, rate, strength): the checkpoint's network over chunks; `strength` 0..1
    blends the input back in (0 = unchanged, 1 = fully enhanced)."""

    def __init__(self, name: str, path: Path, family: str) -> None:
        device = pick_device()
        bundle = load_checkpoint(path, device, family=family)
        self.name = name
        self.model = build_enhancer(bundle).to(device)
        self.version = f"{bundle['config']['name']}-step{bundle['step']}"

    def enhance(self, audio: np.ndarray, sample_rate_hz: int, strength: float = 1.0
                ) -> np.ndarray:
        audio = np.asarray(audio, dtype=np.float32)
        out = enhance(self.model, audio, sample_rate_hz)
        strength = float(np.clip(strength, 0.0, 1.0))
        return (strength * out + (1.0 - strength) * audio).astype(np.float32)


def register_checkpoint_engine(name: str, relative_path: str, family: str) -> None:
    """Engine `name` from models/<relative_path>; SPEAKUP_<NAME>_CHECKPOINT overrides it."""
    env_var = f"SPEAKUP_{name.upper()}_CHECKPOINT"
    engines.register(
        name,
        lambda: CheckpointEngine(name, checkpoint_path(relative_path, env_var), family),
        lambda: checkpoint_path(relative_path, env_var).is_file())
