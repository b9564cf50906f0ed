"""Feed-forward, non-causal WaveNet generator (Su, Jin & Finkelstein 2020, after Rethage 2018).

Stacks of dilated convolutions with gated tanh·sigmoid units; each layer feeds a residual path
(its input to the next layer) and a skip path (summed over all layers). The skip sum goes through
ReLU → 1×1 convs → one output channel. Padding is symmetric: the model sees the future, which is
fine offline and is what the paper does.
"""

from __future__ import annotations

import torch
from torch import nn

from services.enhancer.model.config import GeneratorConfig


class GatedResidualLayer(nn.Module):
    def __init__(self, residual_channels: int, skip_channels: int, kernel_size: int,
                 dilation: int) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.dilated = nn.Conv1d(residual_channels, 2 * residual_channels, kernel_size,
                                 dilation=dilation, padding=padding)
        # One 1×1 conv makes both the residual and the skip output (same cost, one kernel call).
        self.out = nn.Conv1d(residual_channels, residual_channels + skip_channels, 1)
        self.residual_channels = residual_channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, C, T] → (residual [B, C, T], skip [B, S, T])."""
        filt, gate = self.dilated(x).chunk(2, dim=1)
        h = self.out(torch.tanh(filt) * torch.sigmoid(gate))
        residual, skip = h.split([self.residual_channels, h.shape[1] - self.residual_channels], 1)
        # 1/sqrt(2) keeps the residual stream's variance from growing with depth.
        return (x + residual) * 0.7071067811865476, skip


class WaveNetGenerator(nn.Module):
    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        self.input = nn.Conv1d(1, config.residual_channels, 1)
        self.layers = nn.ModuleList(
            GatedResidualLayer(config.residual_channels, config.skip_channels,
                               config.kernel_size, 2**i)
            for _ in range(config.stacks)
            for i in range(config.layers_per_stack)
        )
        head: list[nn.Module] = []
        channels = config.skip_channels
        for out_channels in config.output_channels:
            head += [nn.ReLU(), nn.Conv1d(channels, out_channels, 1)]
            channels = out_channels
        head += [nn.ReLU(), nn.Conv1d(channels, 1, 1)]
        self.head = nn.Sequential(*head)
        if config.input_skip:
            # Start as the identity: the network learns only the correction.
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)

    @property
    def receptive_field(self) -> int:
        c = self.config
        return c.stacks * (c.kernel_size - 1) * (2**c.layers_per_stack - 1) + 1

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """noisy: [B, 1, T] → estimate [B, 1, T]."""
        x = self.input(noisy)
        skip_sum = torch.zeros((), device=noisy.device, dtype=x.dtype)
        for layer in self.layers:
            x, skip = layer(x)
            skip_sum = skip_sum + skip
        out = self.head(skip_sum * len(self.layers) ** -0.5)
        return noisy + out if self.config.input_skip else out
