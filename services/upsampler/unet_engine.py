"""Engine "unet": the trained super-resolution U-Net, registered when a checkpoint is installed.

Checkpoint: `models/unet/unet.keras`, or the file named by SPEAKUP_UNET_CHECKPOINT. The model is
loaded once per process (the registry caches the engine instance): from the `.tflite` export
beside it on LiteRT where the card vouches for it (services/upsampler/lite.py), else with Keras.

A cutoff-conditioned network (model.unet) takes inputs at any rate below 48 kHz and the
input's cutoff (`cutoff_hz`: the chain, services/upsampler/widen.py, passes what
`shared.audio.bandwidth` measured on the whole input; a caller that passes none gets the same
estimator run on the audio it hands over — a streaming caller should measure once and pass it,
or each block is judged on its own). An unconditioned one (the checkpoints before it, such
as the shipped `small` of step 59247) ignores the cutoff: inputs at 16 kHz go through it,
inputs below 16 kHz are first resampled to 16 kHz (it only ever saw 16 kHz inputs), inputs
above are plainly resampled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

import numpy as np
import soxr

from services.upsampler import engines
from services.upsampler.model import UNetConfig
from shared.audio.bandwidth import bandwidth_hz

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKPOINT = REPO_ROOT / "models" / "unet" / "unet.keras"


def checkpoint_path() -> Path:
    return Path(os.environ.get("SPEAKUP_UNET_CHECKPOINT", DEFAULT_CHECKPOINT))


def is_available() -> bool:
    return checkpoint_path().is_file()


def beats_resample(card_path: Path | None = None) -> bool:
    """True only where the model card's held-out evaluation shows a lower mean LSD than
    `resample`, full band and 8–24 kHz — the bar for being the default ("auto") upsampler.

    LSD as haoheliu/ssr_eval defines it (`lsd`, `lsd_high`) where the card has it, else the
    card's older dB definition (`lsd_db`, full band only). SNR is not a condition: any
    plausible invented band lowers it (issue 15); evaluation.sr reports it beside LSD."""
    card_path = card_path or checkpoint_path().with_name("card.json")
    try:
        summary = json.loads(card_path.read_text())["evaluation"]["summary"]
        ours, base = summary["unet"]["all"], summary["resample"]["all"]
        keys = ("lsd", "lsd_high") if "lsd" in ours and "lsd" in base else ("lsd_db",)
        return all(float(ours[k]) < float(base[k]) for k in keys)
    except (OSError, KeyError, TypeError, ValueError):
        return False


def load_model(path: str | Path):
    """Load a U-Net .keras file (safe_mode: no lambdas or pickled code are executed)."""
    import keras

    from services.upsampler.model import FiLM, SubPixel1D  # noqa: F401  (registers them)

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
        from services.upsampler import lite

        self.path = Path(path) if path is not None else checkpoint_path()
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        card_path = self.path.with_name("card.json")
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        self.model = None
        if lite.wanted() and lite.matches(card, self.path, digest):
            try:
                sizes = UNetConfig.from_dict(card["unet_config"])
                self.model = lite.LiteUNet(self.path.with_name(card["lite"]["file"]),
                                           sizes.length_multiple)
                self.runtime = "litert"
            except (ValueError, RuntimeError, KeyError) as error:  # unreadable: use Keras
                log.warning("unet: LiteRT could not load %s (%s); using TensorFlow",
                            card["lite"].get("file"), error)
        if self.model is None:
            self.model = load_model(self.path)
            self.runtime = "tensorflow"
        self.version = f"{card.get('version', 'unet')}-{digest[:12]}"
        # calibrated on validation files at export (services/upsampler/train.py --export-dir)
        self.band_gains = band_gains_from_card(card)
        self._lock = threading.Lock()  # one Keras call at a time per process

    def upsample(
        self,
        audio: np.ndarray,
        sample_rate_hz: int,
        target_rate_hz: int,
        cutoff_hz: float | None = None,
    ) -> np.ndarray:
        """audio [T] at sample_rate_hz → [round(T · target / rate)]; `cutoff_hz`: where the
        input's band ends (a conditioned network fills from there), at most rate / 2; None:
        measured on `audio` (shared.audio.bandwidth), rate / 2 where it cannot be."""
        from services.upsampler.inference import (
            INPUT_RATE_HZ,
            MODEL_RATE_HZ,
            is_conditioned,
            upsample,
        )

        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        n_out = engines.output_length(len(audio), sample_rate_hz, target_rate_hz)
        conditioned = is_conditioned(self.model)
        top_rate_hz = MODEL_RATE_HZ if conditioned else INPUT_RATE_HZ + 1
        if sample_rate_hz >= top_rate_hz or target_rate_hz <= sample_rate_hz:
            return engines.ResampleEngine().upsample(audio, sample_rate_hz, target_rate_hz)
        rate_hz = sample_rate_hz
        if not conditioned and sample_rate_hz < INPUT_RATE_HZ:
            audio = soxr.resample(audio, sample_rate_hz, INPUT_RATE_HZ, quality="VHQ")
            rate_hz = INPUT_RATE_HZ
        nyquist_hz = sample_rate_hz / 2
        if cutoff_hz is None and conditioned:
            cutoff_hz = bandwidth_hz([audio], rate_hz)  # the chain's estimator
        cutoff = nyquist_hz if cutoff_hz is None else min(float(cutoff_hz), nyquist_hz)
        with self._lock:
            out = upsample(
                self.model,
                audio,
                target_rate_hz=target_rate_hz,
                band_gains=self.band_gains,
                input_rate_hz=rate_hz,
                cutoff_hz=cutoff,
            )
        return engines.fit_length(out.astype(np.float32), n_out)


engines.register("unet", UNetEngine, available=is_available)
