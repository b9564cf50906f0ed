"""One STFT for the product: the dsp engine's WPE and noise suppressor share a single analysis, and
the upsampler's band replication uses it at half overlap.

sqrt-Hann analysis and synthesis windows at 75 % overlap sum to a constant, so
`istft(stft(x)) == x` up to float rounding (tested); the signal is padded by one frame on both
sides so that its first and last samples are fully covered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StftConfig:
    frame_s: float = 0.032  # 512 samples at 16 kHz: resolves speech harmonics
    overlap: int = 4  # hop = frame / overlap

    def frame_len(self, sample_rate_hz: int) -> int:
        return int(round(self.frame_s * sample_rate_hz / self.overlap)) * self.overlap

    def hop(self, sample_rate_hz: int) -> int:
        return self.frame_len(sample_rate_hz) // self.overlap


def _windows(frame_len: int, overlap: int) -> np.ndarray:
    window = np.sqrt(np.hanning(frame_len + 1)[:frame_len])  # periodic sqrt-Hann
    # analysis * synthesis window summed over the hops must be 1 (COLA)
    norm = np.sum(window**2) / (frame_len / overlap)
    return (window / np.sqrt(norm)).astype(np.float32)


def stft(audio: np.ndarray, sample_rate_hz: int, config: StftConfig = StftConfig()) -> np.ndarray:
    """audio: [T] → complex64 spectrogram [F, N] (F = frame_len/2 + 1 bins, N frames)."""
    frame_len = config.frame_len(sample_rate_hz)
    hop = config.hop(sample_rate_hz)
    x = np.asarray(audio, dtype=np.float32)
    n_frames = int(np.ceil((len(x) + frame_len) / hop)) + 1
    padded = np.zeros((n_frames - 1) * hop + frame_len, dtype=np.float32)
    padded[frame_len : frame_len + len(x)] = x
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_len)[::hop]
    spec = np.fft.rfft(frames * _windows(frame_len, config.overlap), axis=1)
    return spec.T.astype(np.complex64)


def istft(
    spec: np.ndarray, sample_rate_hz: int, length: int, config: StftConfig = StftConfig()
) -> np.ndarray:
    """complex [F, N] → float32 audio [length], the inverse of `stft` (weighted overlap-add)."""
    frame_len = config.frame_len(sample_rate_hz)
    hop = config.hop(sample_rate_hz)
    frames = np.fft.irfft(spec.T, n=frame_len, axis=1).astype(np.float32)
    frames *= _windows(frame_len, config.overlap)
    n_frames = frames.shape[0]
    out = np.zeros((n_frames - 1) * hop + frame_len, dtype=np.float32)
    # overlap-add in `overlap` strided passes: each pass adds non-overlapping frames at once
    for phase in range(config.overlap):
        chunk = frames[phase :: config.overlap]
        start = phase * hop
        span = chunk.shape[0] * frame_len
        out[start : start + span] += chunk.reshape(-1)[: len(out) - start]
    return out[frame_len : frame_len + length]
