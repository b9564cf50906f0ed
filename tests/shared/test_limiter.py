"""The segment-grid limiter's measurements against whole-signal ones whose answer is known:
its bounds really bound, its loudness is pyloudnorm's, its interpolated gains are what
`sample_gains` says, and a file mastered from a fed analysis equals one mastered by reading."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy import signal

from shared.audio.limiter import (
    ProgrammeAnalysis,
    TruePeaks,
    apply_gains,
    limiter_gains,
    output_peak_bounds,
    peak_bound,
    sample_gains,
    segment_samples,
)
from shared.audio.loudness import oversample
from shared.audio.mastering import analyse_file, master, master_file

RATE_HZ = 48_000


def _speechy(seconds: float, rate: int = RATE_HZ, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    bursts = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 2 * (np.sin(2 * np.pi * 0.2 * t) > 0)
    x = signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(n)) * bursts
    return (0.1 * x / np.max(np.abs(x))).astype(np.float64)


def _fetch(x: np.ndarray):
    def fetch(start: int, stop: int) -> np.ndarray:
        return np.pad(x, (max(-start, 0), max(stop - len(x), 0)))[max(start, 0) :][: stop - start]

    return fetch


@pytest.mark.parametrize("rate", [16_000, 44_100, 48_000, 22_050])
def test_segments_divide_the_loudness_step(rate):
    segment = segment_samples(rate)
    assert round(0.1 * rate) % segment == 0 and 16 <= segment <= 128


@pytest.mark.parametrize("rate", [44_100, 48_000])
def test_loudness_matches_pyloudnorm_whatever_the_blocks(rate):
    x = _speechy(9.0, rate)
    analysis = ProgrammeAnalysis(rate)
    for start in range(0, len(x), 10_007):  # blocks that cut segments anywhere
        analysis.feed(x[start : start + 10_007])
    analysis.finish()
    expected = pyloudnorm.Meter(rate).integrated_loudness(x)
    assert analysis.lufs() == pytest.approx(expected, abs=0.02)
    assert analysis.lufs(gain=2.0) == pytest.approx(expected + 6.02, abs=0.02)


def test_input_bounds_bound_the_true_peaks():
    # near-Nyquist tones at awkward phases: the inter-sample peaks sample peaks miss
    t = np.arange(RATE_HZ) / RATE_HZ
    x = 0.5 * np.sin(2 * np.pi * 11_900 * t + 0.7) + 0.4 * np.sign(np.sin(2 * np.pi * 997 * t))
    analysis = ProgrammeAnalysis(RATE_HZ).feed_all(x)
    peaks = TruePeaks(analysis, _fetch(x))
    measured = peaks.measure(np.ones(len(peaks.bounds), bool))
    whole = np.abs(oversample(x))
    whole = np.pad(whole, (0, len(peaks.bounds) * 4 * analysis.segment - len(whole)))
    expected = whole.reshape(len(peaks.bounds), -1).max(axis=1)
    np.testing.assert_allclose(measured, expected, rtol=1e-5, atol=1e-6)
    assert np.all(peaks.bounds >= expected * (1 - 1e-6))
    assert peak_bound() > 1.0


def test_output_bounds_bound_the_limited_output():
    x = _speechy(6.0) * 30.0  # peaks 11 dB over the ceiling
    analysis = ProgrammeAnalysis(RATE_HZ).feed_all(x)
    peaks = TruePeaks(analysis, _fetch(x))
    peaks.measure(peaks.bounds > 0.3)
    over = np.nan_to_num(peaks.values) * (peaks.bounds > 0.3)
    gains = limiter_gains(over, 0.8, RATE_HZ, analysis.segment)
    assert gains.min() < 0.5  # it limited hard
    out = apply_gains(x.copy(), gains, 0, analysis.segment)
    padding = len(gains) * 4 * analysis.segment - 4 * len(x)
    true_peaks = np.pad(np.abs(oversample(out)), (0, padding))
    true_peaks = true_peaks.reshape(len(gains), -1).max(axis=1)
    assert np.all(output_peak_bounds(peaks, gains, 1.0) >= true_peaks * (1 - 1e-5))
    assert true_peaks.max() <= 0.8 * 10 ** (0.3 / 20)  # within the mastering margin


def test_apply_gains_is_the_interpolated_gain():
    rng = np.random.default_rng(1)
    gains = np.where(rng.random(50) < 0.5, 1.0, rng.random(50)).astype(np.float32)
    x = rng.standard_normal(50 * 64 - 17)
    expected = x * sample_gains(gains, 0, 50, 64)[: len(x)]
    np.testing.assert_allclose(apply_gains(x.copy(), gains, 0, 64), expected, rtol=1e-6)
    tail = x[64 * 10 :]
    np.testing.assert_allclose(apply_gains(tail.copy(), gains, 10, 64), expected[64 * 10 :],
                               rtol=1e-6)


def test_reported_output_loudness_is_the_written_files(tmp_path):
    x = _speechy(20.0) * 3.0
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x, RATE_HZ, subtype="FLOAT")
    report = master_file(src, dst, "video", subtype="FLOAT", fmt="wav")
    out, _ = sf.read(dst)
    assert report["output_lufs"] == pytest.approx(
        pyloudnorm.Meter(RATE_HZ).integrated_loudness(out), abs=0.05)
    up = np.abs(signal.resample_poly(out, 4, 1, window=("kaiser", 8.0)))
    assert report["true_peak_dbtp"] == pytest.approx(20 * np.log10(up.max()), abs=0.01)


def test_a_fed_analysis_gives_the_same_file(tmp_path):
    x = _speechy(12.0)
    src = tmp_path / "in.wav"
    sf.write(src, x, RATE_HZ, subtype="FLOAT")
    fed = ProgrammeAnalysis(RATE_HZ)
    for start in range(0, len(x), 48_000):
        fed.feed(sf.read(src, start=start, frames=48_000, dtype="float32")[0])
    fed.finish()
    a = master_file(src, tmp_path / "a.wav", "podcast", subtype="FLOAT", fmt="wav")
    b = master_file(src, tmp_path / "b.wav", "podcast", subtype="FLOAT", fmt="wav",
                    analysis=fed)
    assert a == b
    np.testing.assert_array_equal(sf.read(tmp_path / "a.wav")[0], sf.read(tmp_path / "b.wav")[0])
    assert analyse_file(src).lufs() == fed.lufs()


def test_short_signals_are_measured_as_one_block():
    x = _speechy(0.25)  # shorter than one 400 ms gating block
    out, report = master(x.astype(np.float32), RATE_HZ, "podcast")
    assert np.isfinite(report["input_lufs"]) and abs(report["output_lufs"] + 16.0) <= 0.5
