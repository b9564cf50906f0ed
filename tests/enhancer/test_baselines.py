"""The third-party baseline engines keep the engine contract and really denoise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from evaluation.metrics import si_sdr, snr_db
from services.enhancer import engines

RATE_HZ = 16_000
BASELINES = ("noisereduce", "rnnoise")


def speech_like(n_samples: int, seed: int = 0) -> np.ndarray:
    """Voiced, syllable-modulated harmonics with a formant: what both baselines call speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / RATE_HZ
    f0_hz = 120 + 30 * np.sin(2 * np.pi * 0.7 * t) + 10 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * np.cumsum(f0_hz) / RATE_HZ
    x = sum(np.sin(k * phase) / k for k in range(1, 30) if k * f0_hz.max() < RATE_HZ / 2)
    envelope = np.clip(np.sin(2 * np.pi * 2.0 * t + rng.uniform(0, 6)), 0, None) ** 0.7
    x = lfilter([1], [1, -1.3, 0.6], x * envelope)
    return (0.1 * x / np.max(np.abs(x))).astype(np.float32)


def white(x: np.ndarray, snr_db_: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(x))
    return (noise * np.sqrt(np.mean(x**2.0)) / 10 ** (snr_db_ / 20)).astype(np.float32)


def lag_samples(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Delay of estimate behind reference: cross-correlation peak, refined to a fraction of a
    sample by a parabola through the peak and its neighbours."""
    n = len(reference)
    corr = np.fft.irfft(np.fft.rfft(estimate, 2 * n) * np.conj(np.fft.rfft(reference, 2 * n)))
    k = int(np.argmax(corr))
    before, peak, after = corr[k - 1], corr[k], corr[(k + 1) % (2 * n)]
    fraction = 0.5 * (before - after) / (before - 2 * peak + after)
    return (k if k < n else k - 2 * n) + fraction


@pytest.fixture(scope="module", params=BASELINES)
def engine(request):
    if request.param not in engines.names():
        pytest.skip(f"{request.param} is not installed")
    return engines.get(request.param)


def test_registered_with_name_and_version(engine):
    assert engine.name in BASELINES
    assert engine.version and engine.version != "unknown"


@pytest.mark.parametrize("n_samples", [RATE_HZ * 3, RATE_HZ * 3 + 123, 5_000])
def test_same_length_float32_and_time_aligned(engine, n_samples):
    clean = speech_like(n_samples)
    out = engine.enhance(clean + white(clean, 10), RATE_HZ)
    assert out.dtype == np.float32 and out.shape == clean.shape
    assert np.all(np.isfinite(out))
    # within a sample: RNNoise's pitch comb filter shifts this perfectly periodic test signal
    # by a fraction of a sample (on real speech the lag is below 0.1 sample, tested below)
    assert abs(lag_samples(clean, out)) < 1.0


@pytest.mark.parametrize("input_snr_db", [0.0, 5.0])
def test_improves_speech_in_white_noise(engine, input_snr_db):
    clean = speech_like(RATE_HZ * 4)
    noisy = clean + white(clean, input_snr_db)
    out = engine.enhance(noisy, RATE_HZ)
    # scale-invariant: noisereduce also lowers the speech level, which plain SNR would count
    assert si_sdr(clean, out) > si_sdr(clean, noisy) + 2.0
    # and it removes noise: far less energy where the speech is silent
    silent = speech_like(RATE_HZ * 4) == 0
    assert np.mean(out[silent] ** 2) < 0.3 * np.mean(noisy[silent] ** 2)


def test_rnnoise_raises_plain_snr():
    if "rnnoise" not in engines.names():
        pytest.skip("pyrnnoise is not installed")
    clean = speech_like(RATE_HZ * 4)
    noisy = clean + white(clean, 5.0)
    assert snr_db(clean, engines.get("rnnoise").enhance(noisy, RATE_HZ)) > snr_db(clean, noisy) + 3


def test_strength_zero_is_identity(engine):
    noisy = speech_like(RATE_HZ) + white(speech_like(RATE_HZ), 5)
    np.testing.assert_array_equal(engine.enhance(noisy, RATE_HZ, strength=0.0), noisy)


def test_improves_real_speech_in_real_noise(engine, data_dir):
    from evaluation.folder import load_mono_16k
    from evaluation.metrics import pesq_wb

    clean = load_mono_16k(
        data_dir / "clean" / "pyroomacoustics__examples__input_samples__cmu_arctic_us_aew_a0001.wav"
    )
    noise = load_mono_16k(
        data_dir / "noise" / "pyroomacoustics__examples__input_samples__doing_the_dishes.wav"
    )[RATE_HZ * 10 : RATE_HZ * 10 + len(clean)]
    noisy = clean + noise * np.sqrt(np.mean(clean**2) / np.mean(noise**2))  # 0 dB
    out = engine.enhance(noisy, RATE_HZ)
    assert round(lag_samples(clean, out)) == 0
    assert abs(lag_samples(clean, engine.enhance(clean, RATE_HZ))) < 0.25
    assert si_sdr(clean, out) > si_sdr(clean, noisy) + 1.0
    assert pesq_wb(clean, out) > pesq_wb(clean, noisy)
