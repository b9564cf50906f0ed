"""Tonal balance: pull the voice's long-term average spectrum towards a reference speech curve.

The reference is the standard speech spectrum of ANSI S3.5-1997 (Table 3, normal vocal
effort; per-Hz levels in 1/3-octave bands 160 Hz–8 kHz). The voice's spectrum is averaged over
its active frames only, compared band by band (octave bands: a few broad corrections, never a
graphic-EQ imitation of the reference), and the difference — with the overall level removed —
becomes a smooth zero-phase gain curve, bounded to ±`max_gain_db`.

Two guards keep EQ from doing harm: differences within `tolerance_db` are left alone (every
voice differs from the average a little; that is the voice, not the device), and a band with
almost no signal (a phone's band-limit) is not boosted — there is nothing there to restore.
An optional de-esser turns down the sibilant band in frames where it dominates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.audio.stft import StftConfig, istft, stft

# ANSI S3.5-1997 Table 3, standard speech spectrum level, normal effort (dB re 20 µPa per Hz)
# fmt: off
REFERENCE_BANDS_HZ = np.array([160, 200, 250, 315, 400, 500, 630, 800, 1000, 1250, 1600, 2000,
                               2500, 3150, 4000, 5000, 6300, 8000], dtype=np.float64)
REFERENCE_LEVEL_DB = np.array([32.41, 34.48, 34.75, 33.98, 34.59, 34.27, 32.06, 28.30, 25.01,
                               23.00, 20.15, 17.32, 13.18, 11.55, 9.33, 5.31, 2.59, 1.13])
# fmt: on


@dataclass(frozen=True)
class EqConfig:
    band_centres_hz: tuple[float, ...] = (200.0, 400.0, 800.0, 1600.0, 3150.0, 6300.0)
    max_gain_db: float = 6.0
    tolerance_db: float = 6.0  # deviations smaller than this are the voice's own character
    amount: float = 0.5  # share of the remaining deviation corrected (gentle by design)
    empty_band_db: float = 15.0  # a band this far below the reference holds no signal: no boost
    active_frame_db: float = 30.0  # frames within this of the loudest count as voice
    deesser_db: float = 0.0  # max cut of the 5–8 kHz band on sibilant frames (0 = off)


def reference_level_db(freqs_hz: np.ndarray) -> np.ndarray:
    """Reference speech spectrum (dB/Hz) at `freqs_hz`, interpolated in log frequency; flat
    beyond the table's ends."""
    f = np.clip(freqs_hz, REFERENCE_BANDS_HZ[0], REFERENCE_BANDS_HZ[-1])
    return np.interp(np.log(f), np.log(REFERENCE_BANDS_HZ), REFERENCE_LEVEL_DB)


def long_term_spectrum_db(power: np.ndarray, active_frame_db: float) -> np.ndarray:
    """power: [F, N] → [F] mean power (dB) over the frames within `active_frame_db` of the
    loudest (so pauses and their noise do not count)."""
    frame_db = 10 * np.log10(power.sum(axis=0) + 1e-20)
    active = frame_db > frame_db.max() - active_frame_db
    return 10 * np.log10(power[:, active].mean(axis=1) + 1e-20)


def band_corrections_db(
    spectrum_db: np.ndarray, freqs_hz: np.ndarray, config: EqConfig = EqConfig()
) -> np.ndarray:
    """[bands] gain in dB for each band centre: the reference minus the voice, level removed,
    tolerance subtracted, scaled by `amount`, bounded; 0 for empty bands."""
    centres = np.array(config.band_centres_hz)
    edges = np.sqrt(centres[:-1] * centres[1:])
    low = np.concatenate([[centres[0] / np.sqrt(2)], edges])
    high = np.concatenate([edges, [centres[-1] * np.sqrt(2)]])
    deviation = np.full(len(centres), np.nan)
    ref = reference_level_db(freqs_hz)
    for b in range(len(centres)):
        in_band = (freqs_hz >= low[b]) & (freqs_hz < high[b])
        if in_band.any():
            deviation[b] = np.mean(ref[in_band] - spectrum_db[in_band])
    present = ~np.isnan(deviation)
    if present.sum() < 2:
        return np.zeros(len(centres))
    # the level is the loudness stage's business: keep only the shape (median is robust to a
    # missing band)
    deviation = deviation - np.median(deviation[present])
    empty = present & (deviation > config.empty_band_db)
    excess = np.sign(deviation) * np.maximum(np.abs(deviation) - config.tolerance_db, 0.0)
    gains = np.clip(config.amount * excess, -config.max_gain_db, config.max_gain_db)
    gains[~present | empty] = 0.0
    return gains


def gain_curve_db(freqs_hz: np.ndarray, gains_db: np.ndarray, config: EqConfig) -> np.ndarray:
    """Smooth per-bin gain: band gains interpolated in log frequency, held flat outside."""
    f = np.maximum(freqs_hz, 1.0)
    return np.interp(np.log(f), np.log(np.array(config.band_centres_hz)), gains_db)


def deess_gain(power: np.ndarray, freqs_hz: np.ndarray, max_cut_db: float) -> np.ndarray:
    """[F, N] gain cutting 5–8 kHz on frames where that band holds more energy than the rest of
    the voice (sibilants), by up to `max_cut_db`, in proportion to the excess."""
    gain = np.ones_like(power)
    sibilant_band = (freqs_hz >= 5_000) & (freqs_hz <= 8_000)
    if max_cut_db <= 0 or not sibilant_band.any():
        return gain
    hiss = power[sibilant_band].sum(axis=0)
    body = power[(freqs_hz >= 200) & (freqs_hz < 5_000)].sum(axis=0) + 1e-20
    excess_db = np.clip(10 * np.log10(hiss / body + 1e-20), 0.0, max_cut_db)
    gain[sibilant_band] = 10 ** (-excess_db / 20)
    return gain


def equalize(
    audio: np.ndarray,
    sample_rate_hz: int,
    strength: float = 1.0,
    config: EqConfig = EqConfig(),
    stft_config: StftConfig = StftConfig(),
) -> np.ndarray:
    """audio: [T] float32 → [T] float32 with its tonal balance corrected (zero-phase)."""
    x = np.asarray(audio, dtype=np.float32)
    if strength <= 0 or len(x) < stft_config.frame_len(sample_rate_hz) or not np.any(x):
        return x.copy()
    spec = stft(x, sample_rate_hz, stft_config)
    power = np.abs(spec.astype(np.complex128)) ** 2
    freqs_hz = np.fft.rfftfreq(stft_config.frame_len(sample_rate_hz), 1 / sample_rate_hz)
    spectrum_db = long_term_spectrum_db(power, config.active_frame_db)
    gains_db = min(strength, 1.0) * band_corrections_db(spectrum_db, freqs_hz, config)
    gain = 10 ** (gain_curve_db(freqs_hz, gains_db, config) / 20)
    spec = spec * gain[:, None].astype(np.float32)
    if config.deesser_db > 0:
        spec = spec * deess_gain(power, freqs_hz, min(strength, 1.0) * config.deesser_db)
    return istft(spec.astype(np.complex64), sample_rate_hz, len(x), stft_config)
