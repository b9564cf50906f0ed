"""Cleanup filters: a high-pass below the voice, and mains-hum notches only where hum is found.

Both run zero-phase (forward-backward), so they add no delay or phase error: a speech component
that passes comes out exactly where it went in, which keeps SI-SDR intact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal


@dataclass(frozen=True)
class HumConfig:
    candidates_hz: tuple[float, ...] = (50.0, 60.0)
    search_hz: float = 1.0  # mains frequency drifts, and Welch bins are ~1 Hz wide
    max_harmonics: int = 24
    max_frequency_hz: float = 2_000.0  # hum harmonics above this are masked by speech anyway
    detect_prominence_db: float = 12.0  # a line this far above its neighbourhood is hum
    notch_prominence_db: float = 6.0  # harmonics notched once hum is found
    notch_bandwidth_hz: float = 2.0
    max_gap: int = 2  # the series ends after this many missing harmonics in a row


@dataclass(frozen=True)
class Hum:
    fundamental_hz: float
    harmonics: tuple[int, ...]  # multiples of the fundamental to notch
    prominence_db: float  # strongest line's height above its neighbourhood


def highpass(
    audio: np.ndarray, sample_rate_hz: int, cutoff_hz: float = 75.0, order: int = 2
) -> np.ndarray:
    """Butterworth high-pass run forward and backward: zero phase, slope 2·6·order dB/octave
    (24 dB/oct for order 2), −6 dB at `cutoff_hz`."""
    sos = signal.butter(order, cutoff_hz, btype="highpass", fs=sample_rate_hz, output="sos")
    return signal.sosfiltfilt(sos, audio).astype(np.float32)


def _line_spectrum(audio: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD with ~0.5 Hz resolution (zero-padded 1 s segments), in dB."""
    segment = min(len(audio), sample_rate_hz)
    nfft = max(segment, 2 * sample_rate_hz)
    freqs, psd = signal.welch(audio, fs=sample_rate_hz, nperseg=segment, nfft=nfft, window="hann")
    return freqs, 10 * np.log10(psd + 1e-20)


def _prominence(freqs: np.ndarray, psd_db: np.ndarray, f_hz: float, search_hz: float):
    """Height (dB) of the strongest bin within ±search_hz of f_hz above the median of the
    surrounding 4–20 Hz band, and that bin's frequency."""
    near = np.abs(freqs - f_hz) <= search_hz
    ring = (np.abs(freqs - f_hz) >= 4.0) & (np.abs(freqs - f_hz) <= 20.0)
    if not near.any() or not ring.any():
        return -np.inf, f_hz
    peak = np.argmax(np.where(near, psd_db, -np.inf))
    return float(psd_db[peak] - np.median(psd_db[ring])), float(freqs[peak])


def _harmonic_series(present: np.ndarray, max_gap: int) -> tuple[int, ...]:
    """Harmonic numbers of the contiguous series from the fundamental: a lone line far above
    the last hum harmonic is more likely a steady tone (or a whistle) than hum."""
    series: list[int] = []
    gap = 0
    for k, here in enumerate(present, 1):
        if here:
            series.append(k)
            gap = 0
        else:
            gap += 1
            if gap > max_gap:
                break
    return tuple(series)


def detect_hum(
    audio: np.ndarray, sample_rate_hz: int, config: HumConfig = HumConfig()
) -> Hum | None:
    """Mains hum, if present: the 50 or 60 Hz family whose lines stand out of the spectrum.

    Hum is declared when its fundamental, or two of its first four harmonics, stand more than
    `detect_prominence_db` above their neighbourhood — a voice's harmonics move with pitch and
    never form lines that steady in a long-term spectrum.
    """
    if len(audio) < sample_rate_hz // 4 or not np.any(audio):
        return None
    freqs, psd_db = _line_spectrum(np.asarray(audio, dtype=np.float64), sample_rate_hz)
    best: Hum | None = None
    top = min(config.max_frequency_hz, sample_rate_hz / 2 - 25.0)
    for f0 in config.candidates_hz:
        count = min(config.max_harmonics, int(top // f0))
        lines = [
            _prominence(freqs, psd_db, k * f0, config.search_hz * k**0.5)
            for k in range(1, count + 1)
        ]
        prominences = np.array([p for p, _ in lines])
        strong = prominences[:4] > config.detect_prominence_db
        if not (strong[0] or strong.sum() >= 2):
            continue
        # refine the mains frequency from the strong lines (it drifts by a few tenths of a Hz)
        strong_k = [k for k, (p, _) in enumerate(lines, 1) if p > config.detect_prominence_db]
        fundamental = float(np.median([lines[k - 1][1] / k for k in strong_k]))
        harmonics = _harmonic_series(prominences > config.notch_prominence_db, config.max_gap)
        hum = Hum(fundamental, harmonics, float(prominences.max()))
        if best is None or hum.prominence_db > best.prominence_db:
            best = hum
    return best


def remove_hum(
    audio: np.ndarray, sample_rate_hz: int, hum: Hum, bandwidth_hz: float = 2.0
) -> np.ndarray:
    """Notch each listed harmonic of the hum (zero-phase IIR notches, `bandwidth_hz` wide)."""
    sections = []
    for k in hum.harmonics:
        f_hz = k * hum.fundamental_hz
        if f_hz >= sample_rate_hz / 2 - bandwidth_hz:
            break
        b, a = signal.iirnotch(f_hz, f_hz / bandwidth_hz, fs=sample_rate_hz)
        sections.append(np.concatenate([b, a]))
    if not sections:
        return np.asarray(audio, dtype=np.float32)
    return signal.sosfiltfilt(np.array(sections), audio).astype(np.float32)
