"""One thing to evaluate: a degraded recording at 16 kHz and, where known, its clean reference."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EVAL_RATE_HZ = 16_000  # the enhancer's rate: every engine is judged on its own input and output

# condition keys the report breaks results down by, in this order
CONDITION_KEYS = ("snr", "reverb", "device", "codec", "noise", "gender", "voice_f0", "kind")
VOICE_F0_SPLIT_HZ = 165.0  # between typical adult male (~120 Hz) and female (~210 Hz) medians


@dataclass(frozen=True)
class EvalItem:
    """noisy, clean: [T] float32 at EVAL_RATE_HZ, same length (clean is None when unpaired).

    conditions: label → value for the breakdowns (snr bucket, reverb, device, gender, kind),
    plus free provenance (source files, measured figures) that the report lists but never groups.
    """

    item_id: str
    set_name: str
    noisy: np.ndarray
    clean: np.ndarray | None
    conditions: dict[str, str] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.noisy) / EVAL_RATE_HZ

    @property
    def paired(self) -> bool:
        return self.clean is not None


def snr_bucket(snr_db: float) -> str:
    """Nearest of the generated set's SNR levels, so measured SNRs of real pairs group with them."""
    levels_db = (-5, 0, 5, 10, 20)
    nearest = min(levels_db, key=lambda level: abs(level - snr_db))
    return f"{nearest:+d} dB"


def voice_f0_bucket(clean: np.ndarray) -> str:
    """Median pitch of the voiced frames (YIN), bucketed: a measured stand-in for the speaker
    group where the sources do not state gender. "unknown" when too little is voiced."""
    import librosa

    f0_hz = librosa.yin(
        np.asarray(clean, dtype=np.float32),
        fmin=60,
        fmax=400,
        sr=EVAL_RATE_HZ,
        frame_length=1024,
        hop_length=256,
    )
    frames = librosa.util.frame(np.pad(clean, 512), frame_length=1024, hop_length=256)
    level_db = 10 * np.log10(np.mean(frames**2, axis=0) + 1e-12)[: len(f0_hz)]
    voiced = f0_hz[: len(level_db)][level_db > level_db.max() - 25]
    voiced = voiced[(voiced > 62) & (voiced < 395)]  # YIN pins unvoiced frames at the limits
    if len(voiced) < 20:
        return "unknown"
    median_hz = float(np.median(voiced))
    return (
        f"f0<{VOICE_F0_SPLIT_HZ:.0f}Hz"
        if median_hz < VOICE_F0_SPLIT_HZ
        else f"f0>={VOICE_F0_SPLIT_HZ:.0f}Hz"
    )


def rt60_bucket(rt60_s: float | None) -> str:
    if rt60_s is None or not np.isfinite(rt60_s):
        return "unknown"
    if rt60_s < 0.45:
        return "rt60<0.45s"
    if rt60_s < 0.9:
        return "rt60 0.45-0.9s"
    return "rt60>=0.9s"
