"""The `dsp` engine: the classic chain behind the enhancer's engine contract.

It needs no trained weights, so it is the engine that runs when no checkpoint is installed, and
the baseline every model must beat (see services/enhancer/auto.py).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from services.enhancer.dsp.pipeline import DspOptions, process_blocks
from services.enhancer.engines import register

VERSION = "1.0.0"


class DspEngine:
    name = "dsp"
    version = VERSION

    def __init__(self, options: DspOptions | None = None) -> None:
        self.options = options or DspOptions()

    def enhance(self, audio: np.ndarray, sample_rate_hz: int, strength: float = 1.0) -> np.ndarray:
        """audio: [T] float32 mono → [T] float32 mono, same rate."""
        return process_blocks(audio, sample_rate_hz, strength, self.options)


def available() -> bool:
    """WPE comes from nara_wpe (the enhancer extra); everything else is numpy/scipy."""
    return importlib.util.find_spec("nara_wpe") is not None


register("dsp", DspEngine, available)
