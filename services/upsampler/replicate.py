"""Spectral band replication: the band above a wide input's own cutoff, copied up from the
octave below it — what HE-AAC's SBR does, without side information.

A phone memo in 44.1/48 kHz AAC keeps its own sound up to 16–20 kHz (`shared.audio.bandsplit`
keeps it, denoised); only the few kHz above are missing. The U-Net cannot see that band — it
works from the 16 kHz enhanced signal and invents everything above 8 kHz — while the octave just
under the cutoff is the best evidence of what lies above it. Each STFT frame's bins above the
cutoff take the bins one octave-wide source band lower (tiled when the gap is wider than the
source), tilted by that frame's own spectral slope over the source band (dB per octave, smoothed
over ~50 ms, clipped to `SLOPE_DB_PER_OCTAVE`) and `LEVEL_DB` under it. The source ends
`MARGIN_HZ` under the cutoff, clear of the encoder's low-pass roll-off.

Chosen on training speakers only (40 phone-like RAVDESS files per setting: held-out noise left
out, the ErbNet chain; LSD as haoheliu/ssr_eval, full band / 8–24 kHz): the level, −8 dB, was
the best of −3…−10 (the plateau is −7…−10), a 512-point frame better than 1024 or 2048. Against
the U-Net above the same cutoff, same files: AAC 64 kb/s (cutoffs ≈ 17.7 kHz) 1.057 / 1.019 vs
1.076 / 1.056; 48 kb/s (≈ 17.2 kHz) 1.196 / 1.207 vs 1.220 / 1.259; 96 kb/s (≈ 20 kHz)
0.975 / 0.930 vs 0.982 / 0.945; 40 kb/s (≈ 15.2 kHz) 1.145 / 1.137 vs 1.142 / 1.151 — even —
and a first version at 32 kb/s (≈ 12.8 kHz) 1.38 vs 1.27: once the gap is wider than the source
octave the copies repeat, and the network is better. Hence `REPLICATE_FROM_HZ`: from 16 kHz (a
gap of at most 8 kHz, one copy) `auto` replicates; below, the U-Net fills; from 20 kHz nothing
is filled (`shared.audio.bandsplit.FULL_BAND_HZ`) — and where the enhancer's gains took the
top of the kept band (`services.upsampler.widen.seam_hz`), the U-Net fills from there. Then
checked once on the held-out speakers and noises (120 files): 64 kb/s LSD 1.089 / 1.075 vs the
U-Net's 1.098 / 1.090, tonal lines per file 0.14 vs 0.24; 48 kb/s 1.213 / 1.232 vs
1.225 / 1.253, lines 0.11 vs 0.23.

Pure numpy/scipy over blocks (`shared.audio.blocks.process_file`): RTF ≈ 0.0012 at 48 kHz, the
U-Net's ≈ 0.014.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from shared.audio.stft import StftConfig, istft, stft

VERSION = "sbr-1"
REPLICATE_FROM_HZ = 16_000.0  # cutoffs from here up: the gap above fits in one source octave
MIN_RATE_HZ = 44_100  # the band to fill lies under the input's own Nyquist
N_FFT = 512  # at 48 kHz (10.7 ms; the same duration at other rates), half-overlapped
MARGIN_HZ = 375.0
LEVEL_DB = -8.0
SLOPE_DB_PER_OCTAVE = (-15.0, 0.0)
SMOOTH_FRAMES = 9  # ~50 ms at 48 kHz


def wanted(rate_hz: int, cutoff_hz: float | None) -> bool:
    """Whether `auto` fills above ``cutoff_hz`` by replication (else super-resolution)."""
    return cutoff_hz is not None and rate_hz >= MIN_RATE_HZ and \
        REPLICATE_FROM_HZ <= cutoff_hz < rate_hz / 2 - MARGIN_HZ


def replicate_above(audio: np.ndarray, rate_hz: int, cutoff_hz: float) -> np.ndarray:
    """audio [n] → [n]: only the replicated band, from ``cutoff_hz − MARGIN_HZ`` up (the join
    to the kept band, `shared.audio.bandsplit.join_above_file`, takes it from the cutoff)."""
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    config = StftConfig(frame_s=N_FFT / 48_000, overlap=2)
    frame_len = config.frame_len(rate_hz)
    bin_hz = rate_hz / frame_len
    top = int(np.floor((cutoff_hz - MARGIN_HZ) / bin_hz))  # first bin to fill
    low = int(np.ceil(top / 2))  # the source: [low, top), an octave
    if len(x) < frame_len or cutoff_hz >= rate_hz / 2 or top - low < 2 or top >= frame_len // 2:
        return np.zeros(len(x), np.float32)
    spectrum = stft(x, rate_hz, config)  # [bins, frames]

    freqs = np.arange(frame_len // 2 + 1) * bin_hz
    octaves = np.log2(freqs[low:top])
    octaves -= octaves.mean()
    level_db = 10 * np.log10(np.abs(spectrum[low:top]) ** 2 + 1e-12)
    slope = (octaves @ (level_db - level_db.mean(axis=0))) / (octaves @ octaves)
    slope = np.clip(uniform_filter1d(slope, SMOOTH_FRAMES), *SLOPE_DB_PER_OCTAVE)

    targets = np.arange(top, frame_len // 2 + 1)
    sources = low + (targets - top) % (top - low)
    moved = np.log2(freqs[targets] / freqs[sources])  # octaves each bin moves up
    gain = 10 ** ((moved[:, None] * slope[None, :] + LEVEL_DB) / 20)
    filled = np.zeros_like(spectrum)
    filled[targets] = spectrum[sources] * gain.astype(np.float32)
    return istft(filled, rate_hz, len(x), config)
