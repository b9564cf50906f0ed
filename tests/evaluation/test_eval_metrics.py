"""evaluation.metrics on signals whose right answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import lfilter

from evaluation import metrics

RATE_HZ = 16_000


def speech_like(duration_s: float = 4.0, rate_hz: int = RATE_HZ, seed: int = 0) -> np.ndarray:
    """A voiced, syllable-modulated harmonic signal: PESQ and STOI treat it as speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    f0_hz = 120 + 30 * np.sin(2 * np.pi * 0.7 * t) + 10 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * np.cumsum(f0_hz) / rate_hz
    x = sum(np.sin(k * phase) / k for k in range(1, 30) if k * f0_hz.max() < rate_hz / 2)
    envelope = np.clip(np.sin(2 * np.pi * 2.0 * t + rng.uniform(0, 6)), 0, None) ** 0.7
    x = lfilter([1], [1, -1.3, 0.6], x * envelope)
    return (0.1 * x / np.max(np.abs(x))).astype(np.float32)


def with_noise(x: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(x))
    noise *= np.sqrt(np.mean(x.astype(np.float64) ** 2) / np.mean(noise**2)) / 10 ** (snr_db / 20)
    return (x + noise).astype(np.float32)


def test_si_sdr_of_a_scaled_copy_is_very_high():
    x = speech_like()
    assert metrics.si_sdr(x, 0.3 * x) > 80


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 10.0, 20.0])
def test_si_sdr_and_snr_of_signal_plus_noise_match_the_mixing_snr(snr_db):
    x = speech_like()
    y = with_noise(x, snr_db)
    assert metrics.snr_db(x, y) == pytest.approx(snr_db, abs=0.05)
    # independent noise: SI-SDR equals the SNR up to the noise's chance projection on x
    assert metrics.si_sdr(x, y) == pytest.approx(snr_db, abs=0.3)


def test_si_sdr_trims_to_the_shorter_signal():
    x = speech_like()
    assert metrics.si_sdr(x, np.concatenate([x, np.ones(100, np.float32)])) > 80


def test_lsd_is_zero_for_identical_and_grows_with_noise():
    x = speech_like()
    assert metrics.log_spectral_distance(x, x, RATE_HZ) == pytest.approx(0.0, abs=1e-9)
    lsd_20 = metrics.log_spectral_distance(x, with_noise(x, 20), RATE_HZ)
    lsd_0 = metrics.log_spectral_distance(x, with_noise(x, 0), RATE_HZ)
    assert 0 < lsd_20 < lsd_0


def test_lsd_band_restriction_sees_only_that_band():
    rate_hz = 48_000
    x = speech_like(rate_hz=rate_hz) + 0.01 * np.random.default_rng(2).standard_normal(
        4 * rate_hz
    ).astype(np.float32)
    # remove everything above 8 kHz: the 8-24 kHz band is lost, the 0-8 kHz band untouched
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(len(x), 1 / rate_hz) > 8_000] = 0
    lowpassed = np.fft.irfft(spectrum, len(x)).astype(np.float32)
    low = metrics.log_spectral_distance(x, lowpassed, rate_hz, band_hz=(0, 7_000))
    high = metrics.log_spectral_distance(x, lowpassed, rate_hz, band_hz=(9_000, 24_000))
    full = metrics.log_spectral_distance(x, lowpassed, rate_hz)
    assert low < 1.0
    assert high > 20.0
    assert low < full < high
    with pytest.raises(ValueError):
        metrics.log_spectral_distance(x, x, rate_hz, band_hz=(30_000, 40_000))


def test_pesq_wb_clean_is_top_and_noisy_is_lower():
    x = speech_like()
    assert metrics.pesq_wb(x, x) == pytest.approx(4.64, abs=0.05)
    noisy_20, noisy_5 = metrics.pesq_wb(x, with_noise(x, 20)), metrics.pesq_wb(x, with_noise(x, 5))
    assert noisy_5 < noisy_20 < 4.0


def test_pesq_wb_resamples_other_rates():
    x = speech_like(rate_hz=48_000)
    assert metrics.pesq_wb(x, x, sample_rate_hz=48_000) > 4.5


def test_pesq_wb_is_nan_when_there_is_no_speech():
    silence = np.zeros(RATE_HZ * 2, np.float32)
    assert math.isnan(metrics.pesq_wb(silence, silence))


def test_stoi_and_estoi_fall_with_noise():
    x = speech_like()
    assert metrics.stoi(x, x, RATE_HZ) == pytest.approx(1.0, abs=1e-6)
    y = with_noise(x, -5)
    assert metrics.stoi(x, y, RATE_HZ) < 0.95
    assert metrics.stoi(x, y, RATE_HZ, extended=True) < metrics.stoi(x, y, RATE_HZ)


def test_loudness_and_true_peak_of_a_known_sine():
    t = np.arange(RATE_HZ * 3) / RATE_HZ
    sine = (0.5 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)
    # BS.1770: a full-scale 997 Hz sine reads -3.01 LUFS, so amplitude 0.5 reads -9.03
    assert metrics.loudness_lufs(sine, RATE_HZ) == pytest.approx(-9.03, abs=0.1)
    assert metrics.true_peak_dbtp(sine, RATE_HZ) == pytest.approx(-6.02, abs=0.1)
    assert metrics.loudness_lufs(np.zeros(RATE_HZ, np.float32), RATE_HZ) == -math.inf


def test_dnsmos_prefers_clean_speech_to_noisy():
    x = speech_like(duration_s=5.0)
    clean, noisy = metrics.dnsmos(x, RATE_HZ), metrics.dnsmos(with_noise(x, 0), RATE_HZ)
    assert set(clean) >= {"dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak"}
    assert all(1.0 <= v <= 5.0 for v in clean.values())
    assert noisy["dnsmos_bak"] < clean["dnsmos_bak"] - 1.0
    assert noisy["dnsmos_ovrl"] < clean["dnsmos_ovrl"]
