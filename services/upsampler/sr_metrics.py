"""Super-resolution metrics, numpy only: used by training, calibration and `evaluation.sr`
(which may import services, never the reverse), and by tests.

`lsd` is the log-spectral distance exactly as haoheliu/ssr_eval computes it
(ssr_eval/metrics.py, `AudioMetrics(rate).lsd`, commit 907395c): a centred STFT as librosa's
(zero padding of n_fft // 2 each side, periodic Hann window, n_fft = int(2048 / (44100 / rate)),
hop = int(rate / 100); at 48 kHz n_fft 2229 and hop 480), magnitudes T (reference) and E
(estimate), per frame sqrt(mean over bins of log10(T² / (E + 1e-12)² + 1e-12)²), mean over
frames. Units are log10 of a power ratio ("bels"; × 10 is dB), not dB. `low_hz` keeps only the
bins at or above it: `low_hz=8000` is the 8–24 kHz variant (the band a 16 kHz input lacks),
ours; ssr_eval reports the full band only.

The formula has no floor: a bin the estimate leaves empty scores log10 of the reference's level
over 1e-24. Scored on float signals, plain resampling's 8–24 kHz band (soxr's stopband,
≈ −150 dB) makes LSD ≈ 9.5; scored on 16-bit PCM (files, as ssr_eval reads them) its empty band
is the rounding noise and LSD ≈ 2. `to_pcm16` is that rounding; `evaluation.sr` scores both
sides as 16-bit PCM.
"""

from __future__ import annotations

import numpy as np

SSR_EVAL_EPS = 1e-12


def ssr_eval_stft_size(rate_hz: int) -> tuple[int, int]:
    """(n_fft, hop) of ssr_eval's AudioMetrics at this rate."""
    return int(2048 / (44100 / rate_hz)), int(rate_hz / 100)


def magnitude_spectrogram(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| [frames, n_fft // 2 + 1] as librosa.stft(center=True, pad_mode="constant")."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    padded = np.pad(audio, (n_fft // 2, n_fft // 2))
    if len(padded) < n_fft:
        padded = np.pad(padded, (0, n_fft - len(padded)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    return np.abs(np.fft.rfft(frames * window, n=n_fft, axis=-1))


def lsd_bands(
    reference: np.ndarray, estimate: np.ndarray, rate_hz: int, lows_hz: tuple[float, ...]
) -> tuple[float, ...]:
    """`lsd` over the bins at or above each of `lows_hz`, from one pair of STFTs."""
    n = min(len(reference), len(estimate))
    n_fft, hop = ssr_eval_stft_size(rate_hz)
    target = magnitude_spectrogram(reference[:n], n_fft, hop)
    return lsd_from_magnitudes(target, magnitude_spectrogram(estimate[:n], n_fft, hop), rate_hz,
                               lows_hz)


def lsd_from_magnitudes(
    target: np.ndarray, est: np.ndarray, rate_hz: int, lows_hz: tuple[float, ...]
) -> tuple[float, ...]:
    """`lsd_bands` from |STFT|s [frames, bins] made by `magnitude_spectrogram` at ssr_eval's
    size (a caller scoring many estimates against one reference computes its STFT once)."""
    n_fft = ssr_eval_stft_size(rate_hz)[0]
    squared = np.log10(target**2 / (est + SSR_EVAL_EPS) ** 2 + SSR_EVAL_EPS) ** 2
    freqs_hz = np.arange(target.shape[1]) * rate_hz / n_fft
    return tuple(
        float(np.sqrt(np.mean(squared[:, freqs_hz >= low], axis=1)).mean()) for low in lows_hz
    )


def lsd(reference: np.ndarray, estimate: np.ndarray, rate_hz: int, low_hz: float = 0.0) -> float:
    """ssr_eval's log-spectral distance (module docstring); both [T] at rate_hz, the longer
    one cut to the shorter as ssr_eval does."""
    return lsd_bands(reference, estimate, rate_hz, (low_hz,))[0]


def trim_digital_silence(audio: np.ndarray) -> np.ndarray:
    """Without leading and trailing exact zeros. RAVDESS clips start and end in digital
    silence; a reference frame of zeros scores log10(1e-12)² per bin in `lsd` (12 per frame),
    whatever the estimate, so references are trimmed before scoring."""
    nonzero = np.flatnonzero(audio)
    return audio[nonzero[0] : nonzero[-1] + 1] if len(nonzero) else audio[:0]


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """What a 16-bit PCM file holds: clipped, rounded to 1/32768 steps (float32)."""
    return (np.round(np.clip(audio, -1.0, 32767 / 32768) * 32768) / 32768).astype(np.float32)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Reference energy over the energy of (estimate − reference), in dB."""
    n = min(len(reference), len(estimate))
    ref = np.asarray(reference[:n], np.float64)
    error = np.asarray(estimate[:n], np.float64) - ref
    return float(10 * np.log10((ref @ ref + 1e-20) / (error @ error + 1e-20)))


# ---- artefact check: tonal lines -----------------------------------------------------------

LINE_FFT = 4096  # 11.7 Hz bins at 48 kHz: a fixed tone stays within a few bins
LINE_NEIGHBOURHOOD_HZ = 500.0
LINE_GUARD_BINS = 3  # the Hann main lobe (±2 bins) is the tone itself, not its neighbourhood
LINE_THRESHOLD_DB = 10.0


def long_term_spectrum_db(audio: np.ndarray, n_fft: int = LINE_FFT) -> np.ndarray:
    """Mean power per bin over Hann frames (hop n_fft / 2), in dB [n_fft // 2 + 1]."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if len(audio) < n_fft:
        audio = np.pad(audio, (0, n_fft - len(audio)))
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[:: n_fft // 2]
    power = np.mean(np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=-1)) ** 2, axis=0)
    return 10 * np.log10(power + 1e-30)


def line_prominence_db(level_db: np.ndarray, width_bins: int, guard_bins: int) -> np.ndarray:
    """How far each bin stands above the *higher* of the medians of its left and right
    neighbourhoods (guard bins excluded): a tone stands above both, a band edge above only
    one side, so an edge (a band-limited signal's cutoff) is never a line."""
    pad = width_bins + guard_bins
    padded = np.pad(level_db, pad, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width_bins)
    n = len(level_db)
    left = np.median(windows[:n], axis=1)  # bins k - pad ... k - guard - 1
    right = np.median(windows[pad + guard_bins + 1 : pad + guard_bins + 1 + n], axis=1)
    return level_db - np.maximum(left, right)


def tonal_lines(
    reference: np.ndarray,
    estimate: np.ndarray,
    rate_hz: int,
    band_hz: tuple[float, float] = (8000.0, 24000.0),
    threshold_db: float = LINE_THRESHOLD_DB,
) -> dict:
    """Fixed tones in `band_hz` of the estimate that the reference lacks.

    On the long-term spectra (a tone is a narrow line there; speech, whose pitch moves, is
    not), each bin's prominence over its ±500 Hz neighbourhood (`line_prominence_db`); a bin is
    flagged where the estimate's prominence exceeds `threshold_db` *and* the reference's
    (counted from 0 dB) by as much. Adjacent flagged bins are one line. Returns `lines`
    (count), `line_freqs_hz` (each line's strongest bin) and `max_excess_db` (the largest
    excess of estimate's prominence over reference's in the band, flagged or not).
    """
    n = min(len(reference), len(estimate))
    ref_db = long_term_spectrum_db(reference[:n])
    est_db = long_term_spectrum_db(estimate[:n])
    freqs_hz = np.arange(len(ref_db)) * rate_hz / LINE_FFT
    width = int(round(LINE_NEIGHBOURHOOD_HZ * LINE_FFT / rate_hz))
    est_prom = line_prominence_db(est_db, width, LINE_GUARD_BINS)
    ref_prom = line_prominence_db(ref_db, width, LINE_GUARD_BINS)
    excess = est_prom - np.maximum(ref_prom, 0.0)
    in_band = (freqs_hz >= band_hz[0]) & (freqs_hz <= band_hz[1])
    flagged = in_band & (est_prom > threshold_db) & (excess > threshold_db)
    lines: list[float] = []
    start = None
    for k in range(len(flagged) + 1):
        if k < len(flagged) and flagged[k]:
            start = k if start is None else start
        elif start is not None:
            peak = start + int(np.argmax(est_prom[start:k]))
            lines.append(round(float(freqs_hz[peak]), 1))
            start = None
    return {
        "lines": len(lines),
        "line_freqs_hz": lines,
        "max_excess_db": float(excess[in_band].max()) if in_band.any() else 0.0,
    }
