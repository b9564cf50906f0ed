"""Overlap-add round trips of the block streamer on signals whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from shared.audio.blocks import crossfade_weights, process_file


def _write(path, audio, rate):
    sf.write(str(path), audio, rate, subtype="FLOAT")


def test_crossfade_weights_sum_to_one():
    w = crossfade_weights(101)
    assert np.allclose(w + w[::-1], 1.0, atol=1e-6)
    assert w[0] < 0.01 and w[-1] > 0.99


def test_identity_round_trip_is_exact_for_any_length(tmp_path):
    rng = np.random.default_rng(0)
    for n in (1, 777, 16000 * 3 + 123):
        audio = rng.standard_normal(n).astype(np.float32) * 0.1
        _write(tmp_path / "in.wav", audio, 16000)
        written = process_file(tmp_path / "in.wav", tmp_path / "out.wav", lambda x: x,
                               block_s=1.0, overlap_s=0.25, context_s=0.5)
        out, rate = sf.read(str(tmp_path / "out.wav"), dtype="float32")
        assert rate == 16000 and written == n == len(out)
        assert np.max(np.abs(out - audio)) < 1e-6


def test_ratio_three_upsampling_keeps_exact_length_and_tone(tmp_path):
    rate, n = 16000, 16000 * 2 + 5
    t = np.arange(n) / rate
    audio = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    _write(tmp_path / "in.wav", audio, rate)
    # zero-order-hold upsampler: each sample repeated 3 times
    written = process_file(tmp_path / "in.wav", tmp_path / "out.wav", lambda x: np.repeat(x, 3),
                           ratio=3, block_s=0.5, overlap_s=0.1, context_s=0.1)
    out, out_rate = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert out_rate == 48000 and written == len(out) == 3 * n
    assert np.max(np.abs(out - np.repeat(audio, 3))) < 1e-6


def test_context_reaches_the_transform(tmp_path):
    """A transform that depends on its neighbours (moving average) matches whole-signal processing
    away from the file edges, because each block sees context on both sides."""
    rng = np.random.default_rng(1)
    audio = rng.standard_normal(16000 * 3).astype(np.float32)
    _write(tmp_path / "in.wav", audio, 16000)

    def smooth(x):
        return np.convolve(x, np.ones(31) / 31, mode="same").astype(np.float32)

    process_file(tmp_path / "in.wav", tmp_path / "out.wav", smooth, block_s=1.0, overlap_s=0.1,
                 context_s=0.05)
    out, _ = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    whole = smooth(audio)
    assert np.max(np.abs(out[100:-100] - whole[100:-100])) < 1e-5


@pytest.mark.parametrize("ratio", [1, 3])
def test_blocks_in_parallel_write_the_same_file(tmp_path, ratio):
    """Two blocks at a time (threads) give the file one block at a time gives, in order."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(16_000 * 7 + 123).astype(np.float32)
    src = tmp_path / "in.wav"
    sf.write(src, x, 16_000, subtype="FLOAT")

    def transform(chunk: np.ndarray) -> np.ndarray:  # position-dependent: order matters
        return np.repeat(np.cumsum(chunk) / (1 + np.arange(len(chunk))), ratio).astype(np.float32)

    outputs, reports = [], []
    for workers in (1, 2, 3):
        dst = tmp_path / f"out{workers}.wav"
        seen: list[float] = []
        n = process_file(src, dst, transform, ratio=ratio, block_s=1.3, overlap_s=0.2,
                         context_s=0.3, workers=workers, progress=seen.append)
        assert n == len(x) * ratio
        outputs.append(sf.read(dst, dtype="float32")[0])
        reports.append(seen)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[0], outputs[2])
    assert reports[0] == reports[1] == reports[2] and reports[0][-1] == 1.0
