"""The finishing step's streaming path (long inputs) hits the same targets as the whole path."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from services.upsampler import finish
from shared.audio.loudness import integrated_lufs, true_peak_dbtp


@pytest.mark.parametrize(("preset", "target"), [("podcast", -16.0), ("broadcast", -23.0)])
def test_streamed_mastering_hits_target_and_peak(tmp_path, monkeypatch, preset, target):
    monkeypatch.setattr(finish, "WHOLE_FILE_MAX_S", 1.0)  # force the constant-memory path
    monkeypatch.setattr(finish, "BLOCK_S", 2.0)
    rate = 48000
    rng = np.random.default_rng(3)
    t = np.arange(rate * 12) / rate
    gate = np.sin(2 * np.pi * 0.4 * t) > -0.3
    envelope = gate * (0.02 + 0.2 * np.abs(np.sin(2 * np.pi * 4 * t)))
    audio = (rng.standard_normal(len(t)) * envelope).astype(np.float32)
    audio[::7000] = 0.95  # peaks the limiter must catch
    sf.write(str(tmp_path / "in.wav"), audio, rate, subtype="FLOAT")
    report = finish.finish_file(tmp_path / "in.wav", tmp_path / "out.flac", target_rate_hz=44100,
                                preset=preset, fmt="flac", bit_depth=24)
    out, out_rate = sf.read(str(tmp_path / "out.flac"), dtype="float32")
    assert out_rate == 44100 and len(out) == round(len(audio) * 44100 / 48000)
    assert abs(integrated_lufs(out, out_rate) - target) <= 0.5
    assert true_peak_dbtp(out, out_rate) <= -1.0
    assert abs(report["output_lufs"] - target) <= 0.5
