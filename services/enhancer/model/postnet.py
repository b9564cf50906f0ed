"""Postnet: a stack of 1-D convs with tanh that refines the WaveNet output (Su et al. 2020 §2.2).

Residual: postnet(x) = x + convs(x), so adding the Postnet after phase 1 starts from what the
generator already does.
"""

from __future__ import annotations

import torch
from torch import nn

from services.enhancer.model.config import PostnetConfig


class Postnet(nn.Module):
    def __init__(self, config: PostnetConfig) -> None:
        super().__init__()
        padding = config.kernel_size // 2
        layers: list[nn.Module] = []
        channels = 1
        for _ in range(config.layers - 1):
            layers += [nn.Conv1d(channels, config.channels, config.kernel_size, padding=padding),
                       nn.Tanh()]
            channels = config.channels
        layers.append(nn.Conv1d(channels, 1, config.kernel_size, padding=padding))
        self.convs = nn.Sequential(*layers)
        nn.init.zeros_(self.convs[-1].weight)  # starts as the identity
        nn.init.zeros_(self.convs[-1].bias)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio: [B, 1, T] → [B, 1, T]."""
        return audio + self.convs(audio)
