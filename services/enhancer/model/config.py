"""HiFi-GAN hyperparameters: frozen dataclasses bound from YAML (services/enhancer/configs/).

Every constructor takes its own part of the config, so a checkpoint that stores `asdict(config)`
can rebuild exactly the network it was trained with — nothing reads a global hparams object.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


@dataclass(frozen=True)
class GeneratorConfig:
    """Non-causal WaveNet (Su et al. 2020 §2.1)."""

    residual_channels: int = 128
    skip_channels: int = 128
    stacks: int = 2
    layers_per_stack: int = 10  # dilations 1, 2, ..., 2**(layers-1) in every stack
    kernel_size: int = 3
    output_channels: tuple[int, ...] = (2048, 256)  # skip sum → ReLU → conv → ReLU → ... → 1
    # Add the noisy input to the output (predict a correction). Not in the paper; it makes the
    # untrained network the identity, which a short CPU training budget needs.
    input_skip: bool = False


@dataclass(frozen=True)
class PostnetConfig:
    layers: int = 12
    channels: int = 128
    kernel_size: int = 31


@dataclass(frozen=True)
class WaveDiscriminatorConfig:
    """MelGAN-style waveform discriminator, one instance per rate (16, 8, 4 kHz)."""

    first_channels: int = 16
    first_kernel: int = 15
    channels: tuple[int, ...] = (64, 256, 1024, 1024)  # grouped strided convs
    kernel_size: int = 41
    stride: int = 4
    groups: tuple[int, ...] = (4, 16, 64, 256)
    last_kernel: int = 5
    scales: int = 3  # 16, 8, 4 kHz by average-pool halving


@dataclass(frozen=True)
class MelDiscriminatorConfig:
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 80
    f_min_hz: float = 20.0
    f_max_hz: float = 8000.0
    channels: tuple[int, ...] = (32, 64, 128, 256)  # 2-D conv + GLU blocks


@dataclass(frozen=True)
class PhaseConfig:
    """One row of the training schedule: which parts train, with what, for how long."""

    name: str
    steps: int
    use_postnet: bool
    use_gan: bool
    lr_generator: float
    lr_discriminator: float = 0.0
    lr_final_fraction: float = 1.0  # cosine decay of both rates to this fraction at the end


@dataclass(frozen=True)
class TrainConfig:
    segment_s: float = 2.0
    batch_size: int = 4
    stft_fft_sizes: tuple[int, ...] = (512, 1024, 2048)
    l1_weight: float = 1.0
    stft_weight: float = 1.0
    adversarial_weight: float = 1.0
    feature_matching_weight: float = 10.0
    gain_db: tuple[float, float] = (-25.0, 0.0)  # speaker gain, drawn uniformly in (low, high)
    # Where set, the speaker's level instead: RMS in dBFS, drawn uniformly in (low, high),
    # whatever the file's own level (gain_db then unused). Relative gains left ErbNet's
    # inputs at −64…−26 dBFS (5th–95th percentile), quieter than phone recordings.
    speech_level_dbfs: tuple[float, float] | None = None
    snr_db: tuple[float, float] = (20.0, 40.0)
    drr_db: tuple[float, float] = (-6.0, 18.0)
    phases: tuple[PhaseConfig, ...] = ()
    # "l1_stft" (HiFi-GAN: waveform L1 + multi-resolution STFT) or "compressed_spectral"
    # (ErbNet: power-law compressed magnitude and complex spectra at several resolutions,
    # plus SI-SDR), see services/enhancer/losses.py.
    loss: str = "l1_stft"
    spectral_compression: float = 0.3
    si_sdr_weight: float = 0.0
    grad_clip_norm: float = 0.0  # clip the generator's gradient norm (0: off)
    colour_in_target: bool = False  # see DegradeSettings.colour_in_target


@dataclass(frozen=True)
class HiFiGANConfig:
    name: str = "paper"
    family: str = "hifigan"
    sample_rate_hz: int = 16_000
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    postnet: PostnetConfig = field(default_factory=PostnetConfig)
    wave_discriminator: WaveDiscriminatorConfig = field(default_factory=WaveDiscriminatorConfig)
    mel_discriminator: MelDiscriminatorConfig = field(default_factory=MelDiscriminatorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def bind(cls: type, data: dict[str, Any]) -> Any:
    """Bind a plain dict (YAML, checkpoint) to a frozen dataclass, recursively; unknown keys fail.

    Nested dataclasses are found from the field types, and `phases` binds to PhaseConfig rows,
    so every model family (HiFi-GAN, ErbNet) binds its config with this one function.
    """
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ValueError(f"{cls.__name__} has no field {key!r}")
        kind = hints.get(key)
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            value = bind(typing.cast(type, kind), value)
        elif key == "phases":
            value = tuple(bind(PhaseConfig, p) for p in value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> HiFiGANConfig:
    return bind(HiFiGANConfig, data)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain dict of lists/numbers/strings: safe inside a weights_only checkpoint and YAML."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(asdict(config))


def load_config(name_or_path: str | Path) -> HiFiGANConfig:
    """`paper`, `small`, `tiny`, or a path to a YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / f"{name_or_path}.yaml"
    return config_from_dict(yaml.safe_load(path.read_text()))
