"""sr_metrics: ssr_eval's LSD on known examples, 16-bit rounding, and the tonal-line check."""

from __future__ import annotations

import numpy as np
import pytest

from services.upsampler import sr_metrics as m

RATE_HZ = 48000


def speechlike(seed: int = 0, duration_s: float = 2.0) -> np.ndarray:
    """Gliding harmonics (a pitch that moves, as speech's does) under a syllable envelope,
    plus full-band noise bursts: no fixed tone anywhere, content up to 24 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * RATE_HZ)) / RATE_HZ
    pitch_hz = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch_hz) / RATE_HZ
    voiced = sum(np.sin(k * phase) / k for k in range(1, 60))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    fricative = rng.normal(0, 0.3, len(t)) * (np.sin(2 * np.pi * 1.5 * t) > 0.6)
    floor = rng.normal(0, 0.003, len(t))  # a recording's noise floor: no empty bins
    return (0.1 * (voiced * envelope + fricative) + floor).astype(np.float32)


def test_stft_sizes_are_ssr_evals():
    assert m.ssr_eval_stft_size(44100) == (2048, 441)
    assert m.ssr_eval_stft_size(48000) == (2229, 480)  # int(2048 / (44100 / 48000))


def test_lsd_of_identical_signals_is_zero():
    x = speechlike()
    assert m.lsd(x, x, RATE_HZ) == pytest.approx(0.0, abs=1e-9)
    assert m.lsd(x, x, RATE_HZ, low_hz=8000) == pytest.approx(0.0, abs=1e-9)


def test_lsd_of_a_flat_gain_is_that_gain_in_log10_units():
    # estimate = reference · 10^(6/20): every bin's T² / E² = 10^(−0.6), log10 of it −0.6,
    # so each frame's sqrt(mean(0.36)) = 0.6 and so is the mean: a 6 dB offset is 0.6.
    x = speechlike(1)
    louder = x * np.float32(10 ** (6 / 20))
    assert m.lsd(x, louder, RATE_HZ) == pytest.approx(0.6, abs=1e-6)
    assert m.lsd(louder, x, RATE_HZ) == pytest.approx(0.6, abs=1e-6)  # symmetric for a gain
    assert m.lsd(x, louder, RATE_HZ, low_hz=8000) == pytest.approx(0.6, abs=1e-6)


def test_lsd_high_band_variant_sees_only_the_bins_above_8khz():
    # 10 dB off above 8 kHz only: the 8-24 kHz variant gives 1.0; the full band, where
    # 743 of the 1115 bins (those >= 8 kHz, 372 up) are off, sqrt(743/1115) = 0.816 per frame.
    x = speechlike(2)
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(len(x), 1 / RATE_HZ) >= 8000] *= 10 ** (10 / 20)
    y = np.fft.irfft(spectrum, n=len(x))
    assert m.lsd(x, y, RATE_HZ, low_hz=8000) == pytest.approx(1.0, abs=0.02)
    assert m.lsd(x, y, RATE_HZ) == pytest.approx(np.sqrt(743 / 1115), abs=0.02)


def test_lsd_matches_librosa_stft_as_ssr_eval_computes_it():
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(3)
    x = speechlike(3, 1.0)
    y = (x + rng.normal(0, 0.01, len(x))).astype(np.float32)
    n_fft, hop = m.ssr_eval_stft_size(RATE_HZ)
    target = np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop)).T
    est = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)).T
    expected = np.mean(
        np.mean(np.log10(target**2 / (est + 1e-12) ** 2 + 1e-12) ** 2, axis=1) ** 0.5
    )
    assert m.lsd(x, y, RATE_HZ) == pytest.approx(float(expected), rel=1e-4)


def test_a_frame_of_digital_silence_scores_12_and_trimming_removes_it():
    x = speechlike(4, 1.0)
    padded = np.concatenate([np.zeros(4000, np.float32), x])
    # centred frame k spans samples k·480 ± 1114: frames 0..6 hold only zeros, and score
    # sqrt(log10(0 / E² + 1e-12)²) = 12 each, the other 102 of the 109 frames 0
    n_fft, hop = m.ssr_eval_stft_size(RATE_HZ)
    frames = 1 + len(padded) // hop
    silent = sum(k * hop + n_fft // 2 < 4000 for k in range(frames))
    assert (frames, silent) == (109, 7)
    assert m.lsd(padded, padded, RATE_HZ) == pytest.approx(12 * silent / frames, abs=1e-6)
    np.testing.assert_array_equal(m.trim_digital_silence(padded), x)
    assert m.lsd(m.trim_digital_silence(padded), x, RATE_HZ) == pytest.approx(0.0, abs=1e-9)


def test_pcm16_rounding_and_snr():
    x = np.array([0.0, 0.5, -1.2, 1.0, 1 / 65536 + 1e-9], dtype=np.float32)
    np.testing.assert_array_equal(m.to_pcm16(x), [0.0, 0.5, -1.0, 32767 / 32768, 1 / 32768])
    y = speechlike(5, 0.5)
    assert m.snr_db(y, 1.1 * y) == pytest.approx(20.0, abs=1e-3)  # error 0.1 · y


def tone(hz: float, n: int, amplitude: float) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(n) / RATE_HZ)).astype(np.float32)


def test_an_added_12khz_tone_is_flagged():
    reference = speechlike(6)
    # 30 dB under the signal's RMS: quiet, yet a line on the spectrogram
    amplitude = float(np.sqrt(np.mean(reference**2))) * 10 ** (-30 / 20) * np.sqrt(2)
    result = m.tonal_lines(reference, reference + tone(12000, len(reference), amplitude), RATE_HZ)
    assert result["lines"] == 1
    assert result["line_freqs_hz"][0] == pytest.approx(12000, abs=15)
    assert result["max_excess_db"] > m.LINE_THRESHOLD_DB


def test_clean_estimates_are_not_flagged():
    reference = speechlike(7)
    rng = np.random.default_rng(8)
    assert m.tonal_lines(reference, reference, RATE_HZ)["lines"] == 0
    # a band-limited estimate (a steep edge at 8 kHz, nothing above) is no line
    spectrum = np.fft.rfft(reference)
    spectrum[np.fft.rfftfreq(len(reference), 1 / RATE_HZ) > 8000] = 0
    band_limited = np.fft.irfft(spectrum, n=len(reference)).astype(np.float32)
    assert m.tonal_lines(reference, m.to_pcm16(band_limited), RATE_HZ)["lines"] == 0
    # nor an invented band of smooth noise
    noisy = band_limited + np.fft.irfft(
        np.where(np.fft.rfftfreq(len(reference), 1 / RATE_HZ) > 8000,
                 np.fft.rfft(rng.normal(0, 0.01, len(reference))), 0), n=len(reference))
    assert m.tonal_lines(reference, noisy.astype(np.float32), RATE_HZ)["lines"] == 0


def test_a_tone_the_reference_has_too_is_not_an_artefact():
    base = speechlike(9)
    whistle = tone(15000, len(base), 0.01)
    assert m.tonal_lines(base + whistle, base + whistle, RATE_HZ)["lines"] == 0
    assert m.tonal_lines(base, base + whistle, RATE_HZ)["lines"] == 1
    # outside the band checked it is not counted
    assert m.tonal_lines(base, base + tone(5000, len(base), 0.01), RATE_HZ)["lines"] == 0


def test_grid_tones_are_removed_and_the_invented_band_kept():
    """The U-Net's stride grid leaves a pattern repeating every 64 samples (lines at multiples
    of 750 Hz); inference subtracts its sliding per-phase mean from each chunk's residual."""
    from services.upsampler.inference import remove_grid_tones

    reference = speechlike(10, 4.0)
    n = len(reference) - len(reference) % 64
    reference = reference[:n]
    rng = np.random.default_rng(11)
    spectrum = np.fft.rfft(rng.normal(0, 0.01, n))
    spectrum[np.fft.rfftfreq(n, 1 / RATE_HZ) < 8000] = 0
    band = np.fft.irfft(spectrum, n=n).astype(np.float32)  # a plausible invented band
    pattern = np.tile(rng.normal(0, 0.02, 64), n // 64).astype(np.float32)
    envelope = (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * np.arange(n) / RATE_HZ)).astype(np.float32)
    residual = band + pattern * envelope  # a grid pattern whose level drifts

    before = m.tonal_lines(reference, reference + residual, RATE_HZ)
    cleaned = remove_grid_tones(residual[None, :], 64)[0]
    after = m.tonal_lines(reference, reference + cleaned, RATE_HZ)

    assert before["lines"] >= 5
    assert all(round(f / 750) * 750 == pytest.approx(f, abs=15) for f in before["line_freqs_hz"])
    assert after["lines"] == 0
    # the band itself survives: ≤ 0.5 dB of its energy goes with the notches
    kept_db = 10 * np.log10(np.sum(cleaned**2) / np.sum(band**2))
    assert -0.5 < kept_db < 0.5
    assert np.sum((cleaned - band) ** 2) < 0.1 * np.sum((pattern * envelope) ** 2)
