"""The bandwidth-aware chain end to end in one process (`speakup enhance`'s pipeline), on
generated speech whose clean reference is known: a 48 kHz AAC phone memo keeps its band above
8 kHz, with less noise there and closer to the clean voice than it came in; super-resolution
fills only above an input's own cutoff; no input comes back narrower than it went in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from evaluation.metrics import log_spectral_distance
from services.upsampler import engines
from shared.audio.bandsplit import SEAM_HZ
from shared.audio.bandwidth import RESOLUTION_HZ, bandwidth_hz
from shared.audio.decode import decode_array
from speakup.cli import main
from speakup.pipeline import ChainOptions, enhance_file
from tests.media import av_encode, fullband_speech

RATE_HZ = 48000
FAST = ChainOptions(engine="dsp", upsampler="resample")


def aligned(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``estimate`` shifted onto ``reference`` (an AAC decode keeps its encoder delay) and
    scaled by least squares (mastering changed the level), cut to the reference's length."""
    probe = min(len(reference), 3 * RATE_HZ)
    corr = signal.correlate(estimate[: probe + 4096], reference[:probe], "valid", "fft")
    lag = int(np.argmax(corr))
    x = estimate[lag : lag + len(reference)]
    x = np.pad(x, (0, len(reference) - len(x)))
    return x * float(np.dot(x, reference[: len(x)]) / np.dot(x, x))


def high_band(x: np.ndarray) -> np.ndarray:
    return signal.sosfilt(signal.butter(10, 8000, "high", fs=RATE_HZ, output="sos"), x)


def quiet_pauses(talking: np.ndarray) -> np.ndarray:
    pauses = talking < 0.5
    return pauses & np.roll(pauses, 4800) & np.roll(pauses, -4800)  # 0.1 s from any speech


def test_a_48k_aac_phone_memo_keeps_its_band_denoised(tmp_path: Path, capsys):
    clean, talking = fullband_speech(10.0, RATE_HZ, 16000, seed=11)
    noise = 0.008 * np.random.default_rng(12).standard_normal(len(clean))
    src = tmp_path / "memo.m4a"
    src.write_bytes(av_encode("ipod", "aac", [(clean + noise).astype(np.float32)[:, None]],
                              RATE_HZ, options={"b": "128000"}))
    dst = tmp_path / "memo-clean.wav"
    assert main(["enhance", str(src), "-o", str(dst), "--engine", "dsp", "--upsampler",
                 "resample", "--json", "-q"]) == 0
    metrics = json.loads(capsys.readouterr().out)[0]["metrics"]
    assert metrics["bandwidth_in_hz"] > 16000  # AAC at 128 kb/s keeps the band
    # not narrower: equal within the estimate's resolution (denoising lowers the top band's
    # level, which moves a 60 dB threshold by a bin or two)
    assert metrics["bandwidth_out_hz"] >= metrics["bandwidth_in_hz"] - RESOLUTION_HZ

    noisy, _ = decode_array(src, target_rate_hz=RATE_HZ)
    out, _ = decode_array(dst, target_rate_hz=RATE_HZ)
    noisy, out = aligned(noisy, clean), aligned(out, clean)
    pauses = quiet_pauses(talking)
    noise_in = np.mean(high_band(noisy)[pauses] ** 2)
    noise_out = np.mean(high_band(out)[pauses] ** 2)
    assert 10 * np.log10(noise_out / noise_in) < -6  # less noise above 8 kHz
    for band in (None, (8000.0, 24000.0)):
        lsd_in = log_spectral_distance(clean, noisy, RATE_HZ, band_hz=band)
        lsd_out = log_spectral_distance(clean, out, RATE_HZ, band_hz=band)
        assert lsd_out < lsd_in, band
    # the band above 8 kHz is the input's own, not a 16 kHz decode's emptiness
    speech = talking > 0.5
    assert np.mean(high_band(out)[speech] ** 2) > 0.1 * np.mean(high_band(clean)[speech] ** 2)


class BandFiller:
    """A stand-in super-resolution engine: the 16 kHz input resampled, plus a known band of
    noise above 8 kHz — so where it shows up in the result is where the chain let it in."""

    name, version = "test_filler", "1"

    def upsample(self, audio: np.ndarray, sample_rate_hz: int, target_rate_hz: int) -> np.ndarray:
        base = engines.ResampleEngine().upsample(audio, sample_rate_hz, target_rate_hz)
        rng = np.random.default_rng(len(audio))
        sos = signal.butter(8, 8500, "high", fs=target_rate_hz, output="sos")
        return base + 0.01 * signal.sosfilt(sos, rng.standard_normal(len(base))).astype(
            np.float32)


@pytest.fixture()
def filler():
    engines.register("test_filler", BandFiller)
    yield "test_filler"
    engines._factories.pop("test_filler", None)
    engines._available.pop("test_filler", None)
    engines._instances.pop("test_filler", None)


def band_db(x: np.ndarray, low_hz: float, high_hz: float) -> float:
    f, power = signal.welch(x, RATE_HZ, nperseg=4096)
    return float(10 * np.log10(power[(f >= low_hz) & (f < high_hz)].mean() + 1e-30))


def test_super_resolution_fills_only_above_the_cutoff(tmp_path: Path, filler: str):
    """A 16 kHz-band 48 kHz input: its own band up to 16 kHz, the engine's above — so it comes
    back with sound beyond 16 kHz, and 9-15.6 kHz holds none of the engine's noise."""
    clean, _ = fullband_speech(8.0, RATE_HZ, 15000, seed=13)
    x = signal.sosfiltfilt(signal.cheby1(10, 0.1, 15800, fs=RATE_HZ, output="sos"), clean)
    src = tmp_path / "band16k.wav"
    sf.write(src, x.astype(np.float32), RATE_HZ, subtype="PCM_24")
    dst = tmp_path / "out.wav"
    report = enhance_file(src, dst, ChainOptions(engine="passthrough", upsampler=filler,
                                                 preset="none"))
    cutoff = report.metrics["bandwidth_in_hz"]
    assert 15800 <= cutoff <= 17000
    assert report.engine["upsampler"] == "test_filler"
    assert report.metrics["bandwidth_out_hz"] > 20000 > cutoff
    y, _ = sf.read(str(dst))
    y = aligned(y, x.astype(np.float64))
    above = band_db(y, cutoff + SEAM_HZ + 200, 23000)
    assert above > band_db(x, cutoff + SEAM_HZ + 200, 23000) + 30  # filled
    own = band_db(y - x, 9000, cutoff - 200)
    assert own < band_db(x, 9000, cutoff - 200) - 30  # the input's own band, untouched


def test_a_16k_band_input_comes_back_at_least_as_wide(tmp_path: Path):
    clean, _ = fullband_speech(8.0, RATE_HZ, 15000, seed=14)
    noisy = clean + 0.002 * np.random.default_rng(15).standard_normal(len(clean))
    x = signal.sosfiltfilt(signal.cheby1(10, 0.1, 15800, fs=RATE_HZ, output="sos"), noisy)
    src = tmp_path / "band16k.flac"
    sf.write(src, x.astype(np.float32), RATE_HZ, subtype="PCM_24")
    report = enhance_file(src, tmp_path / "out.wav", FAST)
    assert report.metrics["bandwidth_in_hz"] >= 15800
    assert report.metrics["bandwidth_out_hz"] >= 16000
    assert report.metrics["bandwidth_out_hz"] >= report.metrics["bandwidth_in_hz"] - RESOLUTION_HZ


@pytest.mark.parametrize("noise", [0.0, 0.003])
def test_a_full_band_48k_input_is_never_narrower(tmp_path: Path, noise: float):
    clean, _ = fullband_speech(8.0, RATE_HZ, 22000, seed=16)
    x = clean + noise * np.random.default_rng(17).standard_normal(len(clean))
    src = tmp_path / "fullband.wav"
    sf.write(src, x.astype(np.float32), RATE_HZ, subtype="PCM_16")
    report = enhance_file(src, tmp_path / "out.flac", FAST)
    assert report.engine["upsampler"] == "none"  # nothing to invent above 20 kHz
    assert report.metrics["bandwidth_in_hz"] > 20000
    assert report.metrics["bandwidth_out_hz"] >= report.metrics["bandwidth_in_hz"] - RESOLUTION_HZ


def test_a_16khz_recording_goes_through_super_resolution_as_before(tmp_path: Path, filler: str):
    clean, _ = fullband_speech(6.0, 16000, 7000, seed=18)
    src = tmp_path / "narrow.wav"
    sf.write(src, clean, 16000, subtype="PCM_16")
    dst = tmp_path / "out.wav"
    report = enhance_file(src, dst, ChainOptions(engine="passthrough", upsampler=filler))
    assert report.metrics["bandwidth_in_hz"] <= 8000
    assert report.engine["upsampler"] == "test_filler"
    y, rate = sf.read(str(dst))
    assert rate == RATE_HZ and bandwidth_hz([y], RATE_HZ) > 20000  # filled from 8 kHz up


@pytest.mark.parametrize(("kept_hz", "filled"), [(22000.0, False), (20800.0, True),
                                                 (17000.0, True)])
def test_a_band_the_enhancer_took_is_filled_again(tmp_path: Path, filler: str, kept_hz: float,
                                                  filled: bool):
    """The input measured 22 kHz; where the enhancer's full-band result still reaches that,
    nothing is invented; where its gains took the top (down to 17 kHz), super-resolution fills
    from there, so the result is not narrower than the input."""
    from services.upsampler.widen import widen

    clean, _ = fullband_speech(6.0, RATE_HZ, 21000, seed=19)
    kept = signal.sosfiltfilt(signal.cheby1(10, 0.1, kept_hz, fs=RATE_HZ, output="sos"), clean)
    fullband = tmp_path / "enhanced_fullband.wav"
    sf.write(fullband, kept.astype(np.float32), RATE_HZ, subtype="FLOAT")
    enhanced_16k = tmp_path / "enhanced.wav"
    sf.write(enhanced_16k, signal.resample_poly(clean, 1, 3).astype(np.float32), 16000,
             subtype="FLOAT")
    cutoff_in = bandwidth_hz([clean], RATE_HZ)
    assert cutoff_in is not None and cutoff_in > 21000

    widened = widen(enhanced_16k, fullband, cutoff_in, filler, tmp_path)
    out, _ = sf.read(str(widened.path))
    if not filled:
        assert widened.engine == "none" and widened.path == fullband
    else:
        assert widened.engine == "test_filler"
        assert bandwidth_hz([out], RATE_HZ) >= cutoff_in - RESOLUTION_HZ
        # the kept band below the seam is the enhancer's own, untouched
        assert band_db(out - kept, 9000, kept_hz - 1000) < band_db(kept, 9000, kept_hz - 1000) - 30
