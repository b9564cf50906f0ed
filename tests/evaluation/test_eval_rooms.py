"""Impulse responses: direct-path alignment, RT60 estimate, simulated rooms."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation import degrade, rooms

RATE_HZ = 16_000


def exponential_rir(rt60_s: float, delay: int = 300, seed: int = 0) -> np.ndarray:
    """A synthetic reverb tail: noise decaying by 60 dB in rt60_s, after a unit direct path."""
    rng = np.random.default_rng(seed)
    n = int(rt60_s * 1.5 * RATE_HZ)
    t = np.arange(n) / RATE_HZ
    tail = rng.standard_normal(n) * 10 ** (-3 * t / rt60_s) * 0.2
    rir = np.zeros(delay + n)
    rir[delay] = 1.0
    rir[delay + 40 :] += tail[: n - 40]
    return rir


@pytest.mark.parametrize("rt60_s", [0.3, 0.8])
def test_rt60_estimate_of_a_known_decay(rt60_s):
    assert rooms.estimate_rt60_s(exponential_rir(rt60_s), RATE_HZ) == pytest.approx(rt60_s, rel=0.1)


def test_alignment_moves_the_direct_path_to_zero_with_unit_gain():
    aligned = rooms.align_direct_path(-0.5 * exponential_rir(0.4, delay=321))
    assert int(np.argmax(np.abs(aligned))) == 0
    assert aligned[0] == pytest.approx(1.0)
    impulse = np.zeros(2000, np.float32)
    impulse[100] = 1.0
    room = rooms.RoomResponse("test", "measured", aligned, RATE_HZ, 0.4)
    wet = rooms.reverberate(impulse, room)
    assert len(wet) == len(impulse) and int(np.argmax(np.abs(wet))) == 100
    assert np.max(np.abs(wet[:100])) < 1e-6  # FFT convolution rounding only


def test_simulated_room_is_deterministic_and_near_its_design_rt60():
    a, b = rooms.simulate(0.4, seed=3, sample_rate_hz=RATE_HZ), rooms.simulate(0.4, 3, RATE_HZ)
    np.testing.assert_array_equal(a.rir, b.rir)
    assert a.rir[0] == pytest.approx(1.0) and int(np.argmax(np.abs(a.rir))) == 0
    assert 0.25 < a.rt60_s < 0.7  # Sabine's design formula is approximate


def test_device_colouration_is_zero_delay_and_band_limits():
    rng = np.random.default_rng(0)
    params = degrade.device_response(rng, RATE_HZ)
    x = rng.standard_normal(RATE_HZ * 2).astype(np.float32)
    y = degrade.apply_device(x, params, RATE_HZ)
    n = len(x)
    corr = np.fft.irfft(np.fft.rfft(y, 2 * n) * np.conj(np.fft.rfft(x, 2 * n)))
    assert int(np.argmax(corr)) == 0
    freqs = np.fft.rfftfreq(n, 1 / RATE_HZ)
    power = np.abs(np.fft.rfft(y)) ** 2
    above = power[freqs > params["lowpass_hz"] * 1.3].mean()
    below = power[(freqs > 1000) & (freqs < params["lowpass_hz"] * 0.7)].mean()
    assert 10 * np.log10(above / below) < -20


def test_mix_at_snr_and_looped_noise():
    rng = np.random.default_rng(1)
    speech = rng.standard_normal(RATE_HZ).astype(np.float32)
    short_noise = rng.standard_normal(3000).astype(np.float32)
    noise = degrade.noise_segment(short_noise, RATE_HZ, rng)
    assert len(noise) == RATE_HZ
    mixed = degrade.mix_at_snr(speech, noise, 7.0)
    residual = mixed - speech
    assert 20 * np.log10(degrade.rms(speech) / degrade.rms(residual)) == pytest.approx(
        7.0, abs=1e-3
    )
