"""Enhancer engine "hifigan": the trained HiFi-GAN checkpoint under models/hifigan/.

Available when the checkpoint exists (SPEAKUP_HIFIGAN_CHECKPOINT overrides the path). The
registry builds the engine once per process, so the model loads once per worker.
"auto" picks it only where its row in models/enhancer_scores.json clears the bar
(services/enhancer/auto.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from services.enhancer import engines
from services.enhancer.checkpoint import build_enhancer, load_checkpoint
from services.enhancer.inference import enhance, pick_device

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKPOINT = REPO_ROOT / "models" / "hifigan" / "hifigan_small.pt"


def checkpoint_path() -> Path:
    return Path(os.environ.get("SPEAKUP_HIFIGAN_CHECKPOINT", DEFAULT_CHECKPOINT))


def available() -> bool:
    return checkpoint_path().is_file()


class HiFiGANEngine:
    name = "hifigan"

    def __init__(self, path: Path | None = None) -> None:
        device = pick_device()
        bundle = load_checkpoint(path or checkpoint_path(), device)
        self.model = build_enhancer(bundle).to(device)
        self.version = f"{bundle['config']['name']}-step{bundle['step']}"

    def enhance(self, audio: np.ndarray, sample_rate_hz: int, strength: float = 1.0
                ) -> np.ndarray:
        """strength 0..1 blends the input back in (0 = unchanged, 1 = fully enhanced)."""
        audio = np.asarray(audio, dtype=np.float32)
        out = enhance(self.model, audio, sample_rate_hz)
        strength = float(np.clip(strength, 0.0, 1.0))
        return (strength * out + (1.0 - strength) * audio).astype(np.float32)


engines.register("hifigan", HiFiGANEngine, available)
