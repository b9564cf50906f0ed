"""All discriminators as one module (one DDP wrapper, one optimizer): 3 waveform + 1 mel."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from services.enhancer.model.mel_discriminator import MelDiscriminator
from services.enhancer.model.waveform_discriminator import MultiRateWaveformDiscriminator


class Discriminators(nn.Module):
    def __init__(self, config: Any) -> None:
        """config: any family's config with `wave_discriminator`, `mel_discriminator` and
        `sample_rate_hz` (HiFiGANConfig, ErbNetConfig): the families share these networks."""
        super().__init__()
        self.waveform = MultiRateWaveformDiscriminator(config.wave_discriminator)
        self.mel = MelDiscriminator(config.mel_discriminator, config.sample_rate_hz)

    def forward(self, audio: torch.Tensor) -> list[list[torch.Tensor]]:
        """audio: [B, 1, T] → per discriminator, its layer activations (score map last)."""
        return [*self.waveform(audio), self.mel(audio)]
