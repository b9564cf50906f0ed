"""Engine "unet": the trained super-resolution U-Net, registered when a checkpoint is installed.

Checkpoint: `models/unet/unet.keras`, or the file named by SPEAKUP_UNET_CHECKPOINT. The model is
loaded once per process (the registry caches the engine instance). Inputs at 16 kHz go through
the U-Net; inputs below 16 kHz are first resampled to 16 kHz (the model only ever saw 16 kHz
inputs); inputs above 16 kHz already carry more band than the model was trained to extend, so
they are plainly resampled.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import numpy as np
import soxr

from services.upsampler import engines

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKPOINT = REPO_ROOT / "models" / "unet" / "unet.keras"


def checkpoint_path() -> Path:
    return Path(os.environ.get("SPEAKUP_UNET_CHECKPOINT", DEFAULT_CHECKPOINT))


def is_available() -> bool:
    return checkpoint_path().is_file()


def beats_resample(card_path: Path | None = None) -> bool:
    """True only where the model card's held-out evaluation shows lower mean LSD than
    `resample` and no lower SNR — the bar for being the default ("auto") upsampler."""
    card_path = card_path or checkpoint_path().with_name("card.json")
    try:
        summary = json.loads(card_path.read_text())["evaluation"]["summary"]
        ours, base = summary["unet"]["all"], summary["resample"]["all"]
        return bool(ours["lsd_db"] < base["lsd_db"] and ours["snr_db"] >= base["snr_db"])
    except (OSError, KeyError, TypeError, ValueError):
        return False


def load_model(path: str | Path):
    """Load a U-Net .keras file (safe_mode: no lambdas or pickled code are executed)."""
    import keras

    import services.upsampler.model.subpixel  # noqa: F401  (registers SubPixel1D)

    return keras.models.load_model(str(path), compile=False, safe_mode=True)


def band_gains_from_card(card: dict) -> tuple[float, ...]:
    """The residual's band gains (inference.BAND_NAMES); a card of the two-band era (low/high
    split at 8 kHz) maps its low gain onto every band below 8 kHz; no card: the raw network."""
    from services.upsampler.inference import BAND_NAMES, RAW_GAINS

    if "band_gains" in card:
        gains = tuple(float(g) for g in card["band_gains"])
        if len(gains) != len(BAND_NAMES):
            raise ValueError(f"card band_gains {gains}: need one per band {BAND_NAMES}")
        return gains
    if "high_band_gain" in card or "low_band_gain" in card:
        low = float(card.get("low_band_gain", 1.0))
        return (*(low for _ in BAND_NAMES[:-1]), float(card.get("high_band_gain", 1.0)))
    return RAW_GAINS


class UNetEngine:
    name = "unet"

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else checkpoint_path()
        self.model = load_model(self.path)
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:12]
        card_path = self.path.with_name("card.json")
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        self.version = f"{card.get('version', 'unet')}-{digest}"
        # calibrated on validation files at export (services/upsampler/train.py --export-dir)
        self.band_gains = band_gains_from_card(card)
        self._lock = threading.Lock()  # one Keras call at a time per process

    def upsample(self, audio: np.ndarray, sample_rate_hz: int, target_rate_hz: int) -> np.ndarray:
        from services.upsampler.inference import INPUT_RATE_HZ, upsample

        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        n_out = engines.output_length(len(audio), sample_rate_hz, target_rate_hz)
        if sample_rate_hz > INPUT_RATE_HZ or target_rate_hz <= INPUT_RATE_HZ:
            return engines.ResampleEngine().upsample(audio, sample_rate_hz, target_rate_hz)
        if sample_rate_hz < INPUT_RATE_HZ:
            audio = soxr.resample(audio, sample_rate_hz, INPUT_RATE_HZ, quality="VHQ")
        with self._lock:
            out = upsample(
                self.model,
                audio,
                target_rate_hz=target_rate_hz,
                band_gains=self.band_gains,
            )
        return engines.fit_length(out.astype(np.float32), n_out)


engines.register("unet", UNetEngine, available=is_available)
