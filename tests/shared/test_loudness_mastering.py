"""Loudness, true peak and mastering on signals whose right answer is known.

Every mastered output must land within ±0.5 LU of its preset's target with a true peak at or
below −1 dBTP — measured here independently (pyloudnorm for loudness, a 8× oversampled peak).
"""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from scipy import signal

from shared.audio.loudness import integrated_lufs, true_peak_dbtp
from shared.audio.mastering import PRESET_LUFS, master, master_file

RATE_HZ = 48_000  # mastering runs at the output rate


def _sine(freq_hz: float, peak_dbfs: float, duration_s: float, rate: int = RATE_HZ, phase=0.0):
    t = np.arange(int(duration_s * rate)) / rate
    return (10 ** (peak_dbfs / 20) * np.sin(2 * np.pi * freq_hz * t + phase)).astype(np.float32)


def _speech_like(duration_s: float, level_dbfs: float, rate: int = RATE_HZ, seed: int = 0):
    """Pink-ish noise with syllable-rate bursts and pauses between phrases: a peak-to-loudness
    ratio (~17 dB) and gating like read speech's (real speech: 14–24 dB)."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * rate)
    noise = signal.lfilter([1.0], [1.0, -0.95], rng.standard_normal(n))  # tilted like a voice
    t = np.arange(n) / rate
    syllables = 0.3 + np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 2
    phrases = (np.sin(2 * np.pi * 0.25 * t) > -0.3).astype(float)
    x = noise * syllables * phrases
    x *= 10 ** (level_dbfs / 20) / np.sqrt(np.mean(x**2))
    return x.astype(np.float32)


def _independent_true_peak_dbtp(x: np.ndarray) -> float:
    """A finer meter than the product's: 8× oversampling."""
    up = signal.resample_poly(x.astype(np.float64), 8, 1)
    return float(20 * np.log10(np.max(np.abs(up)) + 1e-20))


def _clipped(rate: int = RATE_HZ) -> np.ndarray:
    """A voice-band square-ish wave: a 220 Hz sine driven 12 dB into hard clipping."""
    return np.clip(_sine(220, 12.0, 4.0, rate) + 0.01, -1.0, 1.0).astype(np.float32)


def test_full_scale_sine_reads_minus_3_lufs():
    # BS.1770: a 0 dBFS 1 kHz sine in one channel reads −3.01 LUFS
    assert integrated_lufs(_sine(1000, 0.0, 5.0), RATE_HZ) == pytest.approx(-3.01, abs=0.1)
    assert integrated_lufs(_sine(1000, -20.0, 5.0), RATE_HZ) == pytest.approx(-23.01, abs=0.1)


@pytest.mark.parametrize("rate", [16_000, 44_100, 48_000])
def test_integrated_lufs_matches_pyloudnorm(rate):
    x = _speech_like(8.0, -24.0, rate)
    expected = pyloudnorm.Meter(rate).integrated_loudness(x.astype(np.float64))
    assert integrated_lufs(x, rate) == pytest.approx(expected, abs=0.05)


def test_silence_and_short_inputs():
    assert integrated_lufs(np.zeros(RATE_HZ * 2, dtype=np.float32), RATE_HZ) == float("-inf")
    assert true_peak_dbtp(np.zeros(1000, dtype=np.float32), RATE_HZ) == float("-inf")
    short = _sine(1000, -20.0, 0.25)  # shorter than one 400 ms gating block
    assert integrated_lufs(short, RATE_HZ) == pytest.approx(-23.0, abs=0.5)


def test_true_peak_sees_between_samples():
    # fs/4 sine sampled 45° off its crests: every sample is at 0.707 of the real peak (−3 dB)
    x = _sine(RATE_HZ / 4, -6.0, 1.0, phase=np.pi / 4)
    sample_peak_db = 20 * np.log10(np.max(np.abs(x)))
    assert sample_peak_db == pytest.approx(-9.01, abs=0.05)
    assert true_peak_dbtp(x, RATE_HZ) == pytest.approx(-6.0, abs=0.3)


def _inputs():
    return {
        "sine_-30dBFS": _sine(1000, -30.0, 6.0),
        "sine_hot_-1dBFS": _sine(997, -1.0, 6.0),
        "speech_like_quiet": _speech_like(12.0, -38.0),
        "speech_like_hot": _speech_like(12.0, -12.0, seed=1),
        "clipped": _clipped(),
    }


@pytest.mark.parametrize("preset", ["podcast", "broadcast", "video"])
@pytest.mark.parametrize("name", list(_inputs()))
def test_master_lands_on_target_under_ceiling(preset, name):
    x = _inputs()[name]
    out, report = master(x, RATE_HZ, preset)
    target = PRESET_LUFS[preset]
    assert out.dtype == np.float32 and out.shape == x.shape and np.all(np.isfinite(out))
    measured = pyloudnorm.Meter(RATE_HZ).integrated_loudness(out.astype(np.float64))
    assert abs(measured - target) <= 0.5, (name, preset, measured)
    assert _independent_true_peak_dbtp(out) <= -1.0 + 0.05, (name, preset)
    assert report["true_peak_dbtp"] <= -1.0
    assert abs(report["output_lufs"] - target) <= 0.5
    assert report["input_lufs"] == pytest.approx(integrated_lufs(x, RATE_HZ), abs=0.01)
    assert np.isfinite(report["gain_db"])


@pytest.mark.parametrize("preset", ["podcast", "broadcast", "video", "none"])
def test_silence_stays_silence(preset):
    out, report = master(np.zeros(RATE_HZ * 3, dtype=np.float32), RATE_HZ, preset)
    assert not np.any(out) and np.all(np.isfinite(out))
    assert report["gain_db"] == 0.0


def test_near_silence_noise_is_not_lifted_to_target():
    # a faint hiss (−75 dBFS) must not be pushed up to −16 LUFS
    hiss = (10 ** (-75 / 20) * np.random.default_rng(2).standard_normal(RATE_HZ * 3)).astype(
        np.float32
    )
    out, report = master(hiss, RATE_HZ, "podcast")
    assert report["gain_db"] <= 30.0
    assert np.sqrt(np.mean(out.astype(np.float64) ** 2)) < 10 ** (-40 / 20)


def test_none_preset_leaves_level_alone():
    x = _speech_like(6.0, -30.0)
    out, report = master(x, RATE_HZ, "none")
    np.testing.assert_allclose(out, x, atol=1e-7)
    assert report["gain_db"] == 0.0


def test_unknown_preset_is_an_error():
    with pytest.raises(ValueError):
        master(_sine(1000, -20.0, 1.0), RATE_HZ, "louder")


def test_master_file_streams_to_the_same_targets(tmp_path):
    import soundfile as sf

    x = np.concatenate([_speech_like(20.0, -35.0, seed=3), _clipped()])
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x, RATE_HZ, subtype="FLOAT")
    report = master_file(src, dst, "podcast", subtype="FLOAT", fmt="wav", block_s=5.0)
    out, rate = sf.read(dst, dtype="float32")
    assert rate == RATE_HZ and len(out) == len(x)
    measured = pyloudnorm.Meter(RATE_HZ).integrated_loudness(out.astype(np.float64))
    assert abs(measured - (-16.0)) <= 0.5
    assert _independent_true_peak_dbtp(out) <= -1.0 + 0.05
    assert report["true_peak_dbtp"] <= -1.0


@pytest.mark.data
@pytest.mark.parametrize("preset", ["podcast", "broadcast", "video"])
def test_master_real_speech(data_dir, preset):
    """Real read speech (three speakers, peak-to-loudness 17–24 dB) lands on every target."""
    import soundfile as sf
    import soxr

    names = [
        "AP-BWE__Ablation_wideband.wav",
        "MaskSR2__DECLIP__p361_006_mic1.wav",
        "TTS__tests__data__ljspeech__wavs__LJ001-0001.wav",
    ]
    for name in names:
        path = data_dir / "clean" / name
        if not path.exists():
            pytest.skip(f"{name} not in {data_dir}")
        x, rate = sf.read(path, dtype="float32", always_2d=True)
        x = soxr.resample(x[:, 0], rate, RATE_HZ).astype(np.float32)
        out, report = master(x, RATE_HZ, preset)
        measured = pyloudnorm.Meter(RATE_HZ).integrated_loudness(out.astype(np.float64))
        assert abs(measured - PRESET_LUFS[preset]) <= 0.5, (name, measured)
        assert _independent_true_peak_dbtp(out) <= -1.0 + 0.05, name
