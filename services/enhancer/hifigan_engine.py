"""Enhancer engine "hifigan": the trained HiFi-GAN checkpoint under models/hifigan/.

Available when the checkpoint exists (SPEAKUP_HIFIGAN_CHECKPOINT overrides the path). The
registry builds the engine once per process, so the model loads once per worker.
`beats_dsp()` reads the model card's metrics: "auto" picks hifigan only where it beat dsp.
"""

from __future__ import annotations

import json
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


def card_path() -> Path:
    return checkpoint_path().parent / "card.json"


def available() -> bool:
    return checkpoint_path().is_file()


def beats_dsp() -> bool:
    """True only if the card's evaluation shows higher PESQ-WB and SI-SDR gain than dsp."""
    try:
        metrics = json.loads(card_path().read_text())["metrics"]
        ours, dsp = metrics["hifigan"], metrics["dsp"]
        return (float(ours["pesq_wb"]) > float(dsp["pesq_wb"])
                and float(ours["si_sdr_improvement_db"]) > float(dsp["si_sdr_improvement_db"]))
    except (OSError, ValueError, KeyError, TypeError):
        return False


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
