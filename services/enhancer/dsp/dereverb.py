"""Dereverberation: single-channel weighted prediction error (WPE, Nakatani et al. 2010) via
nara_wpe, in the chain's STFT domain (32 ms frames, 8 ms hop at 16 kHz).

WPE predicts the late reverberation of each STFT bin from the frames `delay` hops and more in
the past and subtracts it. The delay (3 hops = 24 ms) spares the direct sound and early
reflections, which carry the voice; 10 taps reach 104 ms back, the part of a room's tail that
smears syllables. These are nara_wpe's recommended 16 kHz settings; 2 iterations instead of 3–5
keep the cost near 0.04 RTF with little loss (the power estimate barely moves after two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.enhancer.dsp.stft import StftConfig, istft, stft


@dataclass(frozen=True)
class DereverbConfig:
    taps: int = 10
    delay: int = 3
    iterations: int = 2
    max_frequency_hz: float = 8_000.0  # bins above are left as they are


def wpe_spec(
    spec: np.ndarray,
    hop_s: float,
    sample_rate_hz: int,
    strength: float = 1.0,
    config: DereverbConfig = DereverbConfig(),
) -> np.ndarray:
    """spec: complex [F, N] → complex [F, N] with the predicted late reverberation removed.

    `strength` scales the subtracted prediction (0: unchanged, 1: full WPE).
    """
    from nara_wpe.wpe import wpe_v7

    if strength <= 0 or spec.shape[1] <= config.taps + config.delay:
        return spec
    n_bins = spec.shape[0]
    top = min(n_bins, int(config.max_frequency_hz / (sample_rate_hz / 2) * (n_bins - 1)) + 1)
    observed = spec[:top, None, :]  # nara_wpe wants (..., channels, frames)
    dry = wpe_v7(observed, taps=config.taps, delay=config.delay, iterations=config.iterations)
    out = spec.copy()
    strength = min(strength, 1.0)
    out[:top] = observed[:, 0] - strength * (observed[:, 0] - dry[:, 0])
    return out.astype(np.complex64)


def dereverb(
    audio: np.ndarray,
    sample_rate_hz: int,
    strength: float = 1.0,
    config: DereverbConfig = DereverbConfig(),
    stft_config: StftConfig = StftConfig(),
) -> np.ndarray:
    """audio: [T] float32 → [T] float32 with late reverberation reduced."""
    spec = stft(audio, sample_rate_hz, stft_config)
    hop_s = stft_config.hop(sample_rate_hz) / sample_rate_hz
    out = wpe_spec(spec, hop_s, sample_rate_hz, strength, config)
    return istft(out, sample_rate_hz, len(audio), stft_config)
