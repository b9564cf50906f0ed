"""U-Net sizes as frozen dataclasses: one constructor argument set per named config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class UNetConfig:
    """Every size of the network.

    The network runs at the output rate (48 kHz) on the soxr-interpolated input and predicts a
    residual. `filters[i]` / `kernel_sizes[i]` belong to down block i (stride 2 each); the up
    blocks mirror them. Input length must be a multiple of `length_multiple`.

    `cutoff_conditioning`: a second input, the input's measured cutoff in Hz, reaches every
    block through FiLM (an embedding of `condition_units`); False is the unconditioned network
    of the checkpoints before it (their cards lack the field, `from_dict` reads them so).
    """

    filters: tuple[int, ...] = (128, 384, 512, 512)
    kernel_sizes: tuple[int, ...] = (65, 33, 17, 9)
    bottleneck_filters: int = 512
    bottleneck_kernel_size: int = 9
    output_kernel_size: int = 9
    dropout: float = 0.5
    leaky_slope: float = 0.2
    sample_rate_hz: int = 48000
    input_rate_hz: int = 16000
    cutoff_conditioning: bool = True
    condition_units: int = 32

    def __post_init__(self) -> None:
        if len(self.filters) != len(self.kernel_sizes) or not self.filters:
            raise ValueError("filters and kernel_sizes need the same, non-zero length")

    @property
    def length_multiple(self) -> int:
        """Down blocks + bottleneck each halve the length; skips need exact halves."""
        return 2 ** (len(self.filters) + 1)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> UNetConfig:
        values = dict(values)
        for key in ("filters", "kernel_sizes"):
            values[key] = tuple(values[key])
        values.setdefault("cutoff_conditioning", False)  # cards written before it existed
        return cls(**values)


# The paper's audiounet (4 layers, 128/384/512/512 filters, kernels 65/33/17/9, dropout 0.5).
PAPER = UNetConfig()

# Sized for CPU serving (≈ 3–5 GFLOP per audio second budget, see shared/notes/anchors.md).
# Five levels instead of four: a wider receptive field for the same cost; 9-tap kernels and few
# channels at the top levels, where the sequences are long and the cost lives (≈ 1.4 GFLOP per
# audio second: serves far faster than real time on one core, and trains on 2 shared CPU cores).
SMALL = UNetConfig(
    filters=(8, 16, 32, 48, 64),
    kernel_sizes=(9, 9, 9, 9, 9),
    bottleneck_filters=64,
    bottleneck_kernel_size=9,
    output_kernel_size=9,
    dropout=0.1,
)

# For tests only: builds and runs in milliseconds.
TINY = UNetConfig(
    filters=(4, 8),
    kernel_sizes=(9, 5),
    bottleneck_filters=8,
    bottleneck_kernel_size=3,
    output_kernel_size=3,
    dropout=0.0,
)

CONFIGS: dict[str, UNetConfig] = {"paper": PAPER, "small": SMALL, "tiny": TINY}
