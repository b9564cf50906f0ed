"""The part that serves: generator followed by Postnet, as one module.

Training wraps this whole module in DistributedDataParallel and calls it through the wrapper, so
gradient sync covers both parts (the seed called the submodules around the wrapper).
"""

from __future__ import annotations

import torch
from torch import nn

from services.enhancer.model.config import HiFiGANConfig
from services.enhancer.model.generator import WaveNetGenerator
from services.enhancer.model.postnet import Postnet


class Enhancer(nn.Module):
    def __init__(self, config: HiFiGANConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = WaveNetGenerator(config.generator)
        self.postnet = Postnet(config.postnet)

    serving_chunk_s = 4.0  # chunks for inference (services/enhancer/inference.py)

    def context_samples(self) -> int:
        """Input a chunk needs on each side: half the receptive field plus the Postnet's."""
        return self.generator.receptive_field // 2 + self.config.postnet.kernel_size

    def forward(self, noisy: torch.Tensor, use_postnet: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """noisy: [B, 1, T] → (generator output, final output), both [B, 1, T]."""
        wave = self.generator(noisy)
        return wave, (self.postnet(wave) if use_postnet else wave)
