"""ErbNet hyperparameters: frozen dataclasses bound from YAML (erbnet/configs/).

The training schedule, degradation ranges and discriminators reuse HiFi-GAN's dataclasses, so
the one train loop and the shared discriminators read both families' configs the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.enhancer.model.config import (
    MelDiscriminatorConfig,
    TrainConfig,
    WaveDiscriminatorConfig,
    bind,
)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class NetworkConfig:
    n_fft: int = 512
    hop_length: int = 256
    erb_bands: int = 32  # gains for the whole spectrum, on an ERB scale
    df_bins: int = 96  # deep filtering below df_bins × rate / n_fft (3 kHz at 512/16 kHz)
    df_order: int = 5  # complex filter taps over frames
    df_lookahead: int = 2  # of the taps, how many frames ahead (non-causal service)
    conv_channels: int = 32
    hidden: int = 256  # embedding width; each GRU direction has hidden // 2
    gru_layers: int = 2
    compression: float = 0.3  # power-law compression of the input magnitudes
    # The deep filter works on the ERB-gained spectrum, not the raw one (DeepFilterNet's
    # order): the gains remove most of the noise there too and the filter refines. On the raw
    # spectrum (step 22,000) the filter alone carried the low band, the one SI-SDR weighs most:
    # 5.6 → 7.4 dB at 5 dB SNR, where ideal ERB gains reach 16.3.
    df_on_masked: bool = False


@dataclass(frozen=True)
class ErbNetConfig:
    name: str = "small"
    family: str = "erbnet"
    sample_rate_hz: int = 16_000
    network: NetworkConfig = field(default_factory=NetworkConfig)
    wave_discriminator: WaveDiscriminatorConfig = field(default_factory=WaveDiscriminatorConfig)
    mel_discriminator: MelDiscriminatorConfig = field(default_factory=MelDiscriminatorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def config_from_dict(data: dict[str, Any]) -> ErbNetConfig:
    return bind(ErbNetConfig, data)


def load_config(name_or_path: str | Path) -> ErbNetConfig:
    """`small`, `tiny`, `large`, or a path to a YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / f"{name_or_path}.yaml"
    return config_from_dict(yaml.safe_load(path.read_text()))
