"""Mel-spectrogram discriminator: log-mel image → 2-D conv + GLU blocks → score map."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from services.enhancer.model.config import MelDiscriminatorConfig


def mel_filterbank(sample_rate_hz: int, n_fft: int, n_mels: int, f_min_hz: float,
                   f_max_hz: float) -> torch.Tensor:
    """Triangular HTK-mel filters: [n_mels, n_fft // 2 + 1]."""

    def to_mel(f: torch.Tensor) -> torch.Tensor:
        return 2595.0 * torch.log10(1.0 + f / 700.0)

    mels = torch.linspace(float(to_mel(torch.tensor(f_min_hz))),
                          float(to_mel(torch.tensor(f_max_hz))), n_mels + 2)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    bins = torch.linspace(0, sample_rate_hz / 2, n_fft // 2 + 1)
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


class MelDiscriminator(nn.Module):
    def __init__(self, config: MelDiscriminatorConfig, sample_rate_hz: int) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("filters", mel_filterbank(
            sample_rate_hz, config.n_fft, config.n_mels, config.f_min_hz,
            min(config.f_max_hz, sample_rate_hz / 2)), persistent=False)
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        blocks = []
        channels = 1
        for out_channels in config.channels:
            # GLU halves the channels: the conv makes twice what the block outputs.
            blocks.append(nn.utils.parametrizations.weight_norm(
                nn.Conv2d(channels, 2 * out_channels, 3, stride=(2, 1) if blocks else 1,
                          padding=1)))
            channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.output = nn.Conv2d(channels, 1, 3, padding=1)

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """audio: [B, 1, T] → [B, 1, n_mels, frames]."""
        spec = torch.stft(audio.squeeze(1).float(), self.config.n_fft, self.config.hop_length,
                          window=self.window, return_complex=True).abs()
        return torch.log(torch.clamp(self.filters @ spec, min=1e-5)).unsqueeze(1)

    def forward(self, audio: torch.Tensor) -> list[torch.Tensor]:
        x = self.log_mel(audio) / math.log(10.0)
        features = []
        for block in self.blocks:
            x = F.glu(block(x), dim=1)
            features.append(x)
        features.append(self.output(x))
        return features
