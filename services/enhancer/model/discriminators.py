"""All discriminators as one module (one DDP wrapper, one optimizer): 3 waveform + 1 mel."""

from __future__ import annotations

import torch
from torch import nn

from services.enhancer.model.config import HiFiGANConfig
from services.enhancer.model.mel_discriminator import MelDiscriminator
from services.enhancer.model.waveform_discriminator import MultiRateWaveformDiscriminator


class Discriminators(nn.Module):
    def __init__(self, config: HiFiGANConfig) -> None:
        super().__init__()
        self.waveform = MultiRateWaveformDiscriminator(config.wave_discriminator)
        self.mel = MelDiscriminator(config.mel_discriminator, config.sample_rate_hz)

    def forward(self, audio: torch.Tensor) -> list[list[torch.Tensor]]:
        """audio: [B, 1, T] → per discriminator, its layer activations (score map last)."""
        return [*self.waveform(audio), self.mel(audio)]
