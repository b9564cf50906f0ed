"""The composed chain and the `dsp` engine: contract, strength, blocks, and a real recording."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from services.enhancer import engines
from services.enhancer.dsp.pipeline import DspOptions, process, process_blocks

RATE_HZ = 16_000


def si_sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    ref = reference - reference.mean()
    est = estimate - estimate.mean()
    target = np.dot(est, ref) / np.dot(ref, ref) * ref
    return float(10 * np.log10(np.sum(target**2) / np.sum((est - target) ** 2)))


def _voice_like(duration_s: float, seed: int = 0) -> np.ndarray:
    t = np.arange(int(duration_s * RATE_HZ)) / RATE_HZ
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.6 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / RATE_HZ
    voice = sum(np.sin(k * phase) / k for k in range(1, 25))
    x = voice * np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None)
    return (0.1 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


def _noisy(clean: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(clean))
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (clean + noise).astype(np.float32)


def test_engine_contract():
    engine = engines.get("dsp")
    assert engine.name == "dsp" and engine.version
    assert "dsp" in engines.names()
    x = _noisy(_voice_like(3.0), 5.0)
    y = engine.enhance(x, RATE_HZ, 1.0)
    assert y.dtype == np.float32 and y.shape == x.shape and np.all(np.isfinite(y))
    assert si_sdr_db(_voice_like(3.0), y) > si_sdr_db(_voice_like(3.0), x) + 3.0


@pytest.mark.parametrize("n", [0, 1, 64, 700, RATE_HZ // 3])
def test_silence_short_and_odd_inputs(n):
    silence = np.zeros(n, dtype=np.float32)
    assert not np.any(process(silence, RATE_HZ))
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    y = process(x, RATE_HZ)
    assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))
    bad = x.copy()
    if n:
        bad[0] = np.nan
    assert np.all(np.isfinite(process(bad, RATE_HZ)))


def test_strength_is_meaningful():
    clean = _voice_like(5.0)
    noisy = _noisy(clean, 0.0)
    np.testing.assert_array_equal(process(noisy, RATE_HZ, strength=0.0), noisy)
    scores = [si_sdr_db(clean, process(noisy, RATE_HZ, strength=s)) for s in (0.25, 0.5, 1.0)]
    assert si_sdr_db(clean, noisy) < scores[0] < scores[1] < scores[2]


def test_blocks_match_whole_signal_processing():
    clean = _voice_like(14.0)
    noisy = _noisy(clean, 5.0)
    options = dataclasses.replace(DspOptions(), max_block_s=5.0, block_overlap_s=1.0)
    whole = process(noisy, RATE_HZ, 1.0, options)
    blocks = process_blocks(noisy, RATE_HZ, 1.0, options)
    assert blocks.shape == noisy.shape
    # same quality, and no seam: the blocked output tracks the whole-signal one closely
    assert abs(si_sdr_db(clean, blocks) - si_sdr_db(clean, whole)) < 1.0
    assert si_sdr_db(whole, blocks) > 15.0


@pytest.mark.data
def test_real_speech_in_real_noise_improves(data_dir):
    """Clean read speech + a real noise recording at 5 dB SNR: SI-SDR and PESQ-WB go up."""
    pesq = pytest.importorskip("pesq")
    import soundfile as sf
    import soxr

    def load(path):
        x, rate = sf.read(path, dtype="float32", always_2d=True)
        return soxr.resample(x[:, 0], rate, RATE_HZ).astype(np.float32)

    speech_path = (
        data_dir / "clean" / "pyroomacoustics__examples__input_samples__cmu_arctic_us_aew_a0001.wav"
    )
    noise_path = (
        data_dir / "noise" / "pyroomacoustics__examples__input_samples__doing_the_dishes.wav"
    )
    if not (speech_path.exists() and noise_path.exists()):
        pytest.skip("fixture recordings not in data_dir")
    clean = load(speech_path)
    noise = load(noise_path)[RATE_HZ * 10 : RATE_HZ * 10 + len(clean)]
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (5.0 / 10))
    noisy = (clean + noise).astype(np.float32)
    enhanced = engines.get("dsp").enhance(noisy, RATE_HZ, 1.0)

    sdr_gain = si_sdr_db(clean, enhanced) - si_sdr_db(clean, noisy)
    pesq_noisy = pesq.pesq(RATE_HZ, clean, noisy, "wb")
    pesq_enhanced = pesq.pesq(RATE_HZ, clean, enhanced, "wb")
    assert sdr_gain > 2.0, sdr_gain
    assert pesq_enhanced > pesq_noisy + 0.1, (pesq_noisy, pesq_enhanced)
