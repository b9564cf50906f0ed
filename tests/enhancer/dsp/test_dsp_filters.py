"""Cleanup filters: hum is found and notched only when present; the voice band is untouched."""

from __future__ import annotations

import numpy as np
import pytest

from services.enhancer.dsp.filters import detect_hum, highpass, remove_hum

RATE_HZ = 16_000


def _time(duration_s: float = 6.0) -> np.ndarray:
    return np.arange(int(duration_s * RATE_HZ)) / RATE_HZ


def _amplitude(x: np.ndarray, freq_hz: float) -> float:
    """Amplitude of the component at freq_hz (projection on a complex exponential)."""
    t = np.arange(len(x)) / RATE_HZ
    return float(2 * np.abs(np.mean(x * np.exp(-2j * np.pi * freq_hz * t))))


def _hum(fundamental_hz: float, t: np.ndarray, harmonics: int = 7) -> np.ndarray:
    return sum(
        0.05 / k * np.sin(2 * np.pi * k * fundamental_hz * t + k) for k in range(1, harmonics + 1)
    )


@pytest.mark.parametrize("fundamental_hz", [50.0, 60.0, 59.8])
def test_hum_and_harmonics_removed_tone_kept(fundamental_hz):
    t = _time()
    rng = np.random.default_rng(0)
    tone = 0.1 * np.sin(2 * np.pi * 1000 * t)
    x = (tone + _hum(fundamental_hz, t) + 0.005 * rng.standard_normal(len(t))).astype(np.float32)

    hum = detect_hum(x, RATE_HZ)
    assert hum is not None
    assert hum.fundamental_hz == pytest.approx(fundamental_hz, abs=0.3)
    assert set(range(1, 8)) <= set(hum.harmonics)
    assert 20 not in hum.harmonics  # the 1 kHz tone is not mistaken for the 20th harmonic of 50

    y = remove_hum(x, RATE_HZ, hum)
    for k in range(1, 8):
        reduction_db = 20 * np.log10(
            _amplitude(y, k * fundamental_hz) / _amplitude(x, k * fundamental_hz)
        )
        assert reduction_db < -25.0, (k, reduction_db)
    kept_db = 20 * np.log10(_amplitude(y, 1000) / _amplitude(x, 1000))
    assert abs(kept_db) < 0.1


def test_no_hum_no_detection():
    t = _time()
    rng = np.random.default_rng(1)
    # a gliding harmonic "voice" (pitch moves, as a voice's does) plus noise
    f0 = 110 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE_HZ
    voice = sum(np.sin(k * phase) / k for k in range(1, 20)) * 0.05
    x = (voice + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    assert detect_hum(x, RATE_HZ) is None
    assert detect_hum(np.zeros(RATE_HZ, dtype=np.float32), RATE_HZ) is None
    assert detect_hum(x[:100], RATE_HZ) is None  # too short to tell


def test_highpass_removes_rumble_keeps_voice_band():
    t = _time(3.0)
    voice_band = 0.1 * np.sin(2 * np.pi * 300 * t) + 0.1 * np.sin(2 * np.pi * 2000 * t)
    rumble = 0.2 * np.sin(2 * np.pi * 25 * t)
    y = highpass((voice_band + rumble).astype(np.float32), RATE_HZ, cutoff_hz=75.0)
    assert y.dtype == np.float32 and len(y) == len(t)
    assert 20 * np.log10(_amplitude(y, 25) / 0.2) < -15.0
    for f in (300, 2000):
        assert abs(20 * np.log10(_amplitude(y, f) / 0.1)) < 0.2
