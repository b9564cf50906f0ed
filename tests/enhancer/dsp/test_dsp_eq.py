"""EQ: bounded ±6 dB, leaves a voice near the reference alone, pulls a coloured one back."""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve, firwin2

from services.enhancer.dsp.eq import EqConfig, equalize, reference_level_db
from shared.audio.stft import stft

RATE_HZ = 16_000
FREQS_HZ = np.linspace(0, RATE_HZ / 2, 257)


def _shaped_noise(gain_db_at: np.ndarray, seed: int = 0, duration_s: float = 6.0) -> np.ndarray:
    """Noise with per-Hz spectrum following the given dB curve over FREQS_HZ (a "voice" with a
    chosen long-term spectrum), in bursts so there are active and quiet frames."""
    rng = np.random.default_rng(seed)
    fir = firwin2(1023, FREQS_HZ, 10 ** (gain_db_at / 20), fs=RATE_HZ)
    x = fftconvolve(rng.standard_normal(int(duration_s * RATE_HZ)), fir, mode="same")
    t = np.arange(len(x)) / RATE_HZ
    x *= 0.2 + (np.sin(2 * np.pi * 2 * t) > 0)
    return (0.05 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


def _ltas_db(x: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.mean(np.abs(stft(x, RATE_HZ)) ** 2, axis=1) + 1e-20)


def _reference_shape() -> np.ndarray:
    ref = reference_level_db(FREQS_HZ)
    return ref - ref.max()


def test_reference_shaped_voice_is_left_alone():
    x = _shaped_noise(_reference_shape())
    y = equalize(x, RATE_HZ)
    change_db = _ltas_db(y) - _ltas_db(x)
    band = (FREQS_HZ > 150) & (FREQS_HZ < 7500)
    assert np.max(np.abs(change_db[band])) < 0.5


def test_corrections_are_bounded_to_6_db():
    # a +/-20 dB tilt, far from any voice: the correction must saturate at ±6 dB
    tilt = _reference_shape() + np.interp(
        np.log(np.maximum(FREQS_HZ, 100)), np.log([100, 8000]), [20.0, -20.0]
    )
    x = _shaped_noise(tilt, seed=1)
    for amount in (0.5, 1.0):
        y = equalize(x, RATE_HZ, config=EqConfig(amount=amount, tolerance_db=0.0))
        change_db = _ltas_db(y) - _ltas_db(x)
        assert np.max(np.abs(change_db[FREQS_HZ > 50])) <= 6.2
    # and it moved the tilt the right way: highs up, lows down
    assert change_db[np.argmin(np.abs(FREQS_HZ - 6300))] > 3.0
    assert change_db[np.argmin(np.abs(FREQS_HZ - 200))] < -3.0


def test_coloured_voice_is_pulled_back_and_empty_band_not_boosted():
    shape = _reference_shape().copy()
    dip = (FREQS_HZ > 1100) & (FREQS_HZ < 2300)
    shape[dip] -= 14.0  # a device's mid-range hole
    shape[FREQS_HZ > 4500] -= 60.0  # and a band-limit: nothing above 4.5 kHz
    x = _shaped_noise(shape, seed=2)
    y = equalize(x, RATE_HZ)
    change_db = _ltas_db(y) - _ltas_db(x)
    assert change_db[np.argmin(np.abs(FREQS_HZ - 1600))] > 1.5
    assert np.max(change_db[FREQS_HZ > 5000]) < 0.5  # no boost of an empty band


def test_strength_zero_is_identity_and_deesser_cuts_hiss():
    x = _shaped_noise(_reference_shape(), seed=3)
    np.testing.assert_array_equal(equalize(x, RATE_HZ, strength=0.0), x)
    hissy = _shaped_noise(np.where(FREQS_HZ > 5000, 0.0, -30.0), seed=4)
    y = equalize(hissy, RATE_HZ, config=EqConfig(deesser_db=6.0, tolerance_db=99.0))
    band = FREQS_HZ > 5500
    assert np.mean(_ltas_db(y)[band] - _ltas_db(hissy)[band]) < -3.0
