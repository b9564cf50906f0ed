"""The bandwidth-aware chain's numerics on signals whose answer is known: an enhancer that changes
nothing gives the input back, the kept band is never louder than the input (frame by frame), it
follows the enhancer's gain, streaming equals one block, and the seam to super-resolution keeps
each side's band."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from scipy import signal

from shared.audio.bandsplit import (
    CROSSOVER_HZ,
    FULL_BAND_HZ,
    MIN_GAIN,
    SEAM_HZ,
    band_gains,
    fullband_file,
    join_above_file,
    plan,
)
from tests.media import fullband_speech

RATE_HZ = 48000


def band_level_db(x: np.ndarray, rate_hz: int, low_hz: float, high_hz: float) -> float:
    sos = signal.butter(10, [low_hz, min(high_hz, rate_hz / 2 - 100)], "band", fs=rate_hz,
                        output="sos")
    return float(10 * np.log10(np.mean(signal.sosfilt(sos, x) ** 2) + 1e-20))


def decoded_pair(tmp_path: Path, wide: np.ndarray, rate_hz: int = RATE_HZ) -> tuple[Path, Path]:
    """The input as the decode leaves it: at its own rate, and at 16 kHz (soxr HQ)."""
    wide_path, narrow_path = tmp_path / "wide.wav", tmp_path / "narrow.wav"
    sf.write(wide_path, wide, rate_hz, subtype="FLOAT")
    sf.write(narrow_path, soxr.resample(wide, rate_hz, 16000, "HQ"), 16000, subtype="FLOAT")
    return wide_path, narrow_path


def noisy_speech(seconds: float = 8.0, rate_hz: int = RATE_HZ) -> tuple[np.ndarray, np.ndarray]:
    clean, talking = fullband_speech(seconds, rate_hz, min(16000, 0.45 * rate_hz), seed=5)
    noise = 0.01 * np.random.default_rng(6).standard_normal(len(clean))
    return (clean + noise).astype(np.float32), talking


def test_plan():
    assert plan(48000, 22000) == plan(48000, 22000)
    wide = plan(48000, 22000)
    assert wide.keep_input_band and not wide.super_resolution  # ≥ 20 kHz: nothing to invent
    phone = plan(48000, 16000)
    assert phone.keep_input_band and phone.super_resolution
    assert not plan(16000, 8000).keep_input_band and plan(16000, 8000).super_resolution
    assert not plan(48000, 7000).keep_input_band  # nothing above the crossover to keep
    assert not plan(48000, None).keep_input_band
    assert FULL_BAND_HZ == 20000


@pytest.mark.parametrize("rate_hz", [48000, 44100, 32000])
def test_an_enhancer_that_changes_nothing_gives_the_input_back(tmp_path: Path, rate_hz: int):
    x, _ = noisy_speech(6.0, rate_hz)
    wide, narrow = decoded_pair(tmp_path, x, rate_hz)
    out = tmp_path / "out.wav"
    fullband_file(wide, narrow, narrow, out)
    y, y_rate = sf.read(str(out), dtype="float32")
    assert y_rate == rate_hz and len(y) == len(x)
    error = y - x
    assert 10 * np.log10(np.mean(error**2) / np.mean(x**2)) < -50
    # the seam at 6.9-7.4 kHz leaves no dip: the band around it is the input's, within 0.1 dB
    lo, hi = CROSSOVER_HZ
    assert band_level_db(y, rate_hz, lo - 300, hi + 300) == pytest.approx(
        band_level_db(x, rate_hz, lo - 300, hi + 300), abs=0.1)


def test_streamed_in_blocks_equals_one_block(tmp_path: Path):
    x, _ = noisy_speech(7.0)
    wide, narrow = decoded_pair(tmp_path, x)
    enhanced = tmp_path / "enhanced.wav"
    e, _ = sf.read(str(narrow), dtype="float32")
    sf.write(enhanced, 0.5 * e, 16000, subtype="FLOAT")
    fullband_file(wide, narrow, enhanced, tmp_path / "a.wav", block_s=60.0)
    fullband_file(wide, narrow, enhanced, tmp_path / "b.wav", block_s=1.3)
    a, _ = sf.read(str(tmp_path / "a.wav"))
    b, _ = sf.read(str(tmp_path / "b.wav"))
    assert len(a) == len(b) == len(x)
    assert np.max(np.abs(a - b)) < 1e-5


def frame_levels(x: np.ndarray, rate_hz: int, frame_s: float = 0.05) -> np.ndarray:
    n = int(frame_s * rate_hz)
    k = len(x) // n
    return (x[: k * n].astype(np.float64) ** 2).reshape(k, n).mean(axis=1)


def test_the_kept_band_follows_the_enhancer_and_is_never_louder(tmp_path: Path):
    """A toy enhancer that mutes the pauses and boosts speech ×2: above 8 kHz the pauses lose
    their noise as it did (down to the −20 dB floor), and no frame is louder than the input's
    own (gain ≤ 1)."""
    x, talking = noisy_speech()
    wide, narrow = decoded_pair(tmp_path, x)
    n16, _ = sf.read(str(narrow), dtype="float32")
    mask16 = soxr.resample(talking, RATE_HZ, 16000)[: len(n16)]
    enhanced = tmp_path / "enhanced.wav"
    sf.write(enhanced, 2.0 * n16 * (mask16 > 0.5), 16000, subtype="FLOAT")
    gains = band_gains(narrow, enhanced)
    assert gains.min() == pytest.approx(MIN_GAIN) and gains.max() <= 1.0
    out = tmp_path / "out.wav"
    fullband_file(wide, narrow, enhanced, out)
    y, _ = sf.read(str(out), dtype="float32")
    sos = signal.butter(10, 8000, "high", fs=RATE_HZ, output="sos")
    x_high, y_high = signal.sosfilt(sos, x), signal.sosfilt(sos, y)
    # frame by frame: never louder above 8 kHz (a whisker for the filters' ringing at onsets)
    ratio_db = 10 * np.log10(frame_levels(y_high, RATE_HZ) / frame_levels(x_high, RATE_HZ))
    assert ratio_db.max() < 0.5
    pauses = talking < 0.5
    pauses = pauses & np.roll(pauses, 4800) & np.roll(pauses, -4800)  # 0.1 s away from speech
    noise_in = np.mean(x_high[pauses] ** 2)
    noise_out = np.mean(y_high[pauses] ** 2)
    assert -21 < 10 * np.log10(noise_out / noise_in) < -17
    speech = talking > 0.5
    kept_db = 10 * np.log10(np.mean(y_high[speech] ** 2) / np.mean(x_high[speech] ** 2))
    assert kept_db > -3.0  # the speech's own high band passes


def test_the_seam_keeps_each_side_of_the_cutoff(tmp_path: Path):
    """Tones below the cutoff come from the full-band signal only, those above the seam from
    super-resolution only."""
    t = np.arange(3 * RATE_HZ) / RATE_HZ
    cutoff = 15000.0

    def tones(*freqs: float) -> np.ndarray:
        return sum(0.1 * np.sin(2 * np.pi * f * t) for f in freqs).astype(np.float32)

    fullband, sr = tmp_path / "full.wav", tmp_path / "sr.wav"
    sf.write(fullband, tones(1000, 14000, 17000), RATE_HZ, subtype="FLOAT")
    sf.write(sr, tones(1500, 14500, 16000, 20000), RATE_HZ, subtype="FLOAT")
    out = tmp_path / "joined.wav"
    join_above_file(fullband, sr, cutoff, out)
    y, _ = sf.read(str(out))
    spectrum = np.abs(np.fft.rfft(y[RATE_HZ:2 * RATE_HZ] * np.hanning(RATE_HZ))) / (RATE_HZ / 4)

    def db(freq: float) -> float:
        return float(20 * np.log10(spectrum[int(freq)] / 0.1 + 1e-12))

    for kept in (1000, 14000, 16000, 20000):
        assert db(kept) == pytest.approx(0.0, abs=0.1), kept
    for dropped in (1500, 14500, 17000):
        assert db(dropped) < -60, dropped
    assert cutoff + SEAM_HZ < 16000


def test_the_seam_resamples_a_44k1_fullband(tmp_path: Path):
    t44 = np.arange(2 * 44100) / 44100
    t48 = np.arange(2 * RATE_HZ) / RATE_HZ
    fullband, sr = tmp_path / "full.wav", tmp_path / "sr.wav"
    sf.write(fullband, 0.1 * np.sin(2 * np.pi * 3000 * t44), 44100, subtype="FLOAT")
    sf.write(sr, 0.1 * np.sin(2 * np.pi * 21000 * t48), RATE_HZ, subtype="FLOAT")
    out = tmp_path / "joined.wav"
    join_above_file(fullband, sr, 18000.0, out)
    y, rate = sf.read(str(out))
    assert rate == RATE_HZ and len(y) == 2 * RATE_HZ
    expected = 0.1 * np.sin(2 * np.pi * 3000 * t48) + 0.1 * np.sin(2 * np.pi * 21000 * t48)
    assert np.max(np.abs(y - expected)[2000:-2000]) < 2e-3


def test_clean_sibilants_survive_an_enhancer_that_cut_4_to_7_khz(tmp_path: Path):
    """Noise below 7 kHz only (a dishwasher): the enhancer cuts 4–7.4 kHz even in speech. The
    band above 8 kHz is clean, and where the enhancer kept speech its own gain keeps it."""
    clean, talking = fullband_speech(8.0, RATE_HZ, 16000, seed=7)
    rumble = signal.sosfilt(signal.butter(8, 7000, fs=RATE_HZ, output="sos"),
                            np.random.default_rng(8).standard_normal(len(clean)))
    x = (clean + 0.02 * rumble).astype(np.float32)
    wide, narrow = decoded_pair(tmp_path, x)
    n16, _ = sf.read(str(narrow), dtype="float32")
    spectrum = np.fft.rfft(n16)
    freqs = np.fft.rfftfreq(len(n16), 1 / 16000)
    mask16 = soxr.resample(talking, RATE_HZ, 16000)[: len(n16)] > 0.5
    speech_part = np.fft.irfft(np.where(freqs < 4000, spectrum, 0), len(n16)) * mask16
    top_part = np.fft.irfft(np.where(freqs >= 4000, spectrum, 0), len(n16)) * 0.1
    enhanced = tmp_path / "enhanced.wav"
    sf.write(enhanced, (speech_part + top_part).astype(np.float32), 16000, subtype="FLOAT")
    out = tmp_path / "out.wav"
    fullband_file(wide, narrow, enhanced, out)
    y, _ = sf.read(str(out), dtype="float32")
    sos = signal.butter(10, 9000, "high", fs=RATE_HZ, output="sos")
    x_high, y_high = signal.sosfilt(sos, x), signal.sosfilt(sos, y)
    speech = talking > 0.5
    kept_db = 10 * np.log10(np.mean(y_high[speech] ** 2) / np.mean(x_high[speech] ** 2))
    assert kept_db > -3.0  # the enhancer's 0.1 alone would have made it -20 dB
    ratio_db = 10 * np.log10(frame_levels(y_high, RATE_HZ) / (frame_levels(x_high, RATE_HZ)
                                                              + 1e-20))
    assert ratio_db.max() < 0.5  # still never louder
