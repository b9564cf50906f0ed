"""MelGAN-style waveform discriminator (Kumar et al. 2019), as HiFi-GAN uses it at 16/8/4 kHz.

One class; the three rates are three instances fed average-pooled input. Every layer's
activation is returned, because deep feature matching compares all of them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from services.enhancer.model.config import WaveDiscriminatorConfig


class WaveformDiscriminator(nn.Module):
    def __init__(self, config: WaveDiscriminatorConfig) -> None:
        super().__init__()
        convs = [nn.Conv1d(1, config.first_channels, config.first_kernel,
                           padding=config.first_kernel // 2, padding_mode="reflect")]
        channels = config.first_channels
        for out_channels, groups in zip(config.channels, config.groups, strict=True):
            convs.append(nn.Conv1d(channels, out_channels, config.kernel_size,
                                   stride=config.stride, padding=config.kernel_size // 2,
                                   groups=groups))
            channels = out_channels
        convs.append(nn.Conv1d(channels, channels, config.last_kernel,
                               padding=config.last_kernel // 2))
        self.convs = nn.ModuleList(nn.utils.parametrizations.weight_norm(c) for c in convs)
        self.output = nn.utils.parametrizations.weight_norm(nn.Conv1d(channels, 1, 3, padding=1))

    def forward(self, audio: torch.Tensor) -> list[torch.Tensor]:
        """audio: [B, 1, T] → every layer's activation; the last entry is the score map."""
        features = []
        x = audio
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
            features.append(x)
        features.append(self.output(x))
        return features


class MultiRateWaveformDiscriminator(nn.Module):
    """Instances at the full rate and at each halving (16, 8, 4 kHz for 16 kHz audio)."""

    def __init__(self, config: WaveDiscriminatorConfig) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            WaveformDiscriminator(config) for _ in range(config.scales))
        self.downsample = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)

    def forward(self, audio: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for i, disc in enumerate(self.discriminators):
            if i:
                audio = self.downsample(audio)
            outputs.append(disc(audio))
        return outputs
