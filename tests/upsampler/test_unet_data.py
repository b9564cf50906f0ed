"""The U-Net's training data: input filters really cut above 8 kHz; full-band detection."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from services.upsampler import data


def band_db(audio: np.ndarray, rate_hz: int, low_hz: float, high_hz: float) -> float:
    """Mean power density in [low, high) relative to the density in 500–6000 Hz, in dB."""
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / rate_hz)
    band = spectrum[(freqs >= low_hz) & (freqs < high_hz)].mean()
    passband = spectrum[(freqs >= 500) & (freqs < 6000)].mean()
    return float(10 * np.log10(band / passband + 1e-30))


@pytest.fixture(scope="module")
def noise_48k() -> np.ndarray:
    return np.random.default_rng(0).normal(0, 0.1, 3 * 48000).astype(np.float32)


@pytest.mark.parametrize("name", sorted(data.EVAL_FILTERS))
def test_eval_filters_cut_above_8khz(noise_48k, name):
    params = data.EVAL_FILTERS[name]
    low = data.degrade_to_16k(noise_48k, params)
    assert len(low) == len(noise_48k) // 3
    assert abs(band_db(low, 16000, 1000, 5000)) < 1.5  # passband kept
    network_input = data.interpolate_to_48k(low)
    assert len(network_input) == len(noise_48k)
    assert band_db(network_input, 48000, 8200, 24000) < -50
    if name != "soxr":
        assert band_db(data.lowpass_48k(noise_48k, params), 48000, 10000, 24000) < -40


def test_random_filters_all_cut_above_8khz(noise_48k):
    rng = np.random.default_rng(1)
    for kind in data.FILTER_TYPES:
        for _ in range(3):
            params = data.random_filter(rng, kind)
            network_input = data.interpolate_to_48k(data.degrade_to_16k(noise_48k, params))
            assert band_db(network_input, 48000, 8200, 24000) < -50, params


def test_full_band_detection(tmp_path, noise_48k):
    sf.write(tmp_path / "wide.wav", noise_48k, 48000)
    narrow = data.interpolate_to_48k(data.degrade_to_16k(noise_48k, data.EVAL_FILTERS["soxr"]))
    sf.write(tmp_path / "narrow.wav", narrow, 48000)
    sf.write(tmp_path / "low_rate.wav", noise_48k[:16000], 16000)
    assert data.is_full_band(tmp_path / "wide.wav")
    assert not data.is_full_band(tmp_path / "narrow.wav")
    assert not data.is_full_band(tmp_path / "low_rate.wav")


def test_random_crops_keep_input_and_target_aligned(noise_48k):
    bank = [data.make_pair(noise_48k, data.EVAL_FILTERS["mp3"])]
    x, y = next(data.random_crops(bank, 4800, seed=0))
    assert x.shape == y.shape == (4800, 1)
    # input = target low-passed at 7.25 kHz, same gain: for white noise x·y/y·y = 7.25/24
    gain = np.sum(x * y) / np.sum(y * y)
    assert abs(gain - 7250 / 24000) < 0.03
