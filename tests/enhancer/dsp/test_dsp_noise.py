"""Noise suppression on signals whose answer is known: the SNR gain is measured, not assumed."""

from __future__ import annotations

import numpy as np
import pytest

from services.enhancer.dsp.noise import (
    NoiseSuppressionConfig,
    suppress_noise,
    track_noise_psd,
)
from shared.audio.stft import StftConfig, istft, stft

RATE_HZ = 16_000


def si_sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    ref = reference - reference.mean()
    est = estimate - estimate.mean()
    target = np.dot(est, ref) / np.dot(ref, ref) * ref
    return float(10 * np.log10(np.sum(target**2) / np.sum((est - target) ** 2)))


def _voice_like(duration_s: float = 6.0, seed: int = 0) -> np.ndarray:
    """A gliding harmonic complex in syllables and phrases, with pauses (as speech has)."""
    t = np.arange(int(duration_s * RATE_HZ)) / RATE_HZ
    f0 = 130 + 30 * np.sin(2 * np.pi * 0.6 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / RATE_HZ
    voice = sum(np.sin(k * phase) / k for k in range(1, 25))
    syllables = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None)
    phrases = (np.sin(2 * np.pi * 0.3 * t) > -0.2).astype(float)
    x = voice * syllables * phrases
    return (0.1 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


def _mix(clean: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(clean))
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (clean + noise).astype(np.float32)


def test_stft_round_trip():
    x = np.random.default_rng(0).standard_normal(12_345).astype(np.float32)
    y = istft(stft(x, RATE_HZ), RATE_HZ, len(x))
    assert np.max(np.abs(x - y)) < 1e-5


def test_sine_in_white_noise_snr_gain():
    """Sine bursts (on 0.3 s, off 0.2 s) in white noise at 0 dB SNR. (A sine that never stops
    is, to any stationarity-based suppressor, part of the noise — like a whistle or hum.)"""
    t = np.arange(5 * RATE_HZ) / RATE_HZ
    keyed = (t % 0.5) < 0.3
    sine = (0.1 * np.sin(2 * np.pi * 440 * t) * keyed).astype(np.float32)
    noisy = _mix(sine, 0.0)
    out = suppress_noise(noisy, RATE_HZ)
    gain_db = si_sdr_db(sine, out) - si_sdr_db(sine, noisy)
    assert gain_db > 15.0, gain_db


@pytest.mark.parametrize("snr_db", [0.0, 5.0, 10.0])
def test_voice_like_in_white_noise_snr_gain(snr_db):
    clean = _voice_like()
    noisy = _mix(clean, snr_db)
    out = suppress_noise(noisy, RATE_HZ)
    gain_db = si_sdr_db(clean, out) - si_sdr_db(clean, noisy)
    assert gain_db > 5.0, (snr_db, gain_db)


def test_clean_input_is_nearly_untouched():
    clean = _voice_like()
    faint = _mix(clean, 50.0)  # a studio noise floor
    out = suppress_noise(faint, RATE_HZ)
    assert si_sdr_db(faint, out) > 25.0


def test_strength_scales_the_noise_floor():
    clean = _voice_like()
    noisy = _mix(clean, 0.0)
    pause = slice(int(2.6 * RATE_HZ), int(3.0 * RATE_HZ))  # phrases pause here
    assert np.max(np.abs(clean[pause])) == 0.0
    residual_db = {}
    for strength in (0.0, 0.5, 1.0):
        out = suppress_noise(noisy, RATE_HZ, strength=strength)
        residual_db[strength] = 10 * np.log10(np.mean(out[pause] ** 2) / np.mean(noisy[pause] ** 2))
    assert abs(residual_db[0.0]) < 0.01  # strength 0: unchanged
    assert residual_db[1.0] < residual_db[0.5] - 4.0 < -4.0  # deeper with strength


def test_tracker_follows_a_step_in_noise_level():
    """Noise that rises 20 dB mid-file is tracked within ~2 s (minimum-statistics safeguard)."""
    rng = np.random.default_rng(3)
    noise = 0.01 * rng.standard_normal(8 * RATE_HZ)
    noise[4 * RATE_HZ :] *= 10
    config = StftConfig()
    power = np.abs(stft(noise.astype(np.float32), RATE_HZ, config).astype(np.complex128)) ** 2
    hop_s = config.hop(RATE_HZ) / RATE_HZ
    estimate = track_noise_psd(power, hop_s, NoiseSuppressionConfig())
    frames = (np.array([3.5, 6.5, 7.5]) / hop_s).astype(int)
    for frame in frames:
        true_level = power[:, frame - 60 : frame].sum(axis=0).mean()
        error_db = 10 * np.log10(estimate[:, frame].sum() / true_level)
        assert abs(error_db) < 2.0, (frame * hop_s, error_db)


def test_silence_and_tiny_inputs():
    assert not np.any(suppress_noise(np.zeros(RATE_HZ, dtype=np.float32), RATE_HZ))
    for n in (1, 100, 1000):
        x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
        y = suppress_noise(x, RATE_HZ)
        assert y.shape == x.shape and np.all(np.isfinite(y))
