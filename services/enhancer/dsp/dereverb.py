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

from shared.audio.stft import StftConfig, istft, stft

_BINS_PER_SOLVE = 32


@dataclass(frozen=True)
class DereverbConfig:
    taps: int = 10
    delay: int = 3
    iterations: int = 2
    psd_context: int = 0  # frames each side averaged into WPE's power estimate
    max_frequency_hz: float = 8_000.0  # bins above are left as they are
    # WPE's own STFT; None shares the chain's (32 ms frames, 8 ms hop)
    stft: StftConfig | None = None


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
    # nara_wpe wants (..., channels, frames); in complex64 its correlation solve loses so much
    # precision that WPE removes only a fraction of what it does in complex128 (measured).
    # Bins are independent: solving them a group at a time keeps memory ~8x lower.
    dry = np.empty((top, spec.shape[1]), dtype=np.complex128)
    for start in range(0, top, _BINS_PER_SOLVE):
        stop = min(top, start + _BINS_PER_SOLVE)
        observed = spec[start:stop, None, :].astype(np.complex128)
        dry[start:stop] = wpe_v7(
            observed,
            taps=config.taps,
            delay=config.delay,
            iterations=config.iterations,
            psd_context=config.psd_context,
        )[:, 0]
    out = spec.copy()
    strength = min(strength, 1.0)
    out[:top] = spec[:top] - strength * (spec[:top] - dry)
    return out.astype(np.complex64)


def dereverb(
    audio: np.ndarray,
    sample_rate_hz: int,
    strength: float = 1.0,
    config: DereverbConfig = DereverbConfig(),
    stft_config: StftConfig = StftConfig(),
) -> np.ndarray:
    """audio: [T] float32 → [T] float32 with late reverberation reduced."""
    if strength <= 0:
        return np.asarray(audio, dtype=np.float32).copy()
    stft_config = config.stft or stft_config
    spec = stft(audio, sample_rate_hz, stft_config)
    hop_s = stft_config.hop(sample_rate_hz) / sample_rate_hz
    out = wpe_spec(spec, hop_s, sample_rate_hz, strength, config)
    return istft(out, sample_rate_hz, len(audio), stft_config)
