"""The bandwidth estimate: known bands read back, streamed equals whole, and the decode measures
it at the input's own rate (and keeps that wide signal) before anything is resampled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from scipy import signal

from shared.audio.bandwidth import BandwidthMeter, bandwidth_hz, file_bandwidth_hz, wav_bandwidth_hz
from shared.audio.decode import probe_and_decode_to_wav
from tests.media import av_encode


def lowpassed_noise(seconds: float, rate_hz: int, cutoff_hz: float, seed: int = 0) -> np.ndarray:
    """White noise with nothing above ``cutoff_hz`` (a brick wall in one FFT)."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(int(seconds * rate_hz)))
    spectrum[np.fft.rfftfreq(int(seconds * rate_hz), 1 / rate_hz) > cutoff_hz] = 0
    return (0.05 * np.fft.irfft(spectrum, int(seconds * rate_hz))).astype(np.float32)


@pytest.mark.parametrize(("rate_hz", "cutoff_hz"), [(48000, 16000), (48000, 11000),
                                                   (44100, 7000), (16000, 4000)])
def test_a_known_band_reads_back(rate_hz: int, cutoff_hz: float):
    x = lowpassed_noise(3.0, rate_hz, cutoff_hz)
    assert cutoff_hz <= bandwidth_hz([x], rate_hz) <= cutoff_hz + 300


def test_full_band_noise_reaches_nyquist():
    x = np.random.default_rng(1).standard_normal(48000 * 2)
    assert bandwidth_hz([x], 48000) > 23000


def test_streamed_in_any_blocks_equals_whole():
    x = lowpassed_noise(5.0, 48000, 12000, seed=3)
    meter = BandwidthMeter(48000)
    for start in range(0, len(x), 12345):
        meter.add(x[start:start + 12345])
    assert meter.hz() == bandwidth_hz([x], 48000)


def test_silence_and_short_signals_have_no_bandwidth():
    assert bandwidth_hz([np.zeros(48000)], 48000) is None
    assert bandwidth_hz([np.ones(100)], 48000) is None


def test_a_pure_tone_is_measured_not_crashed():
    t = np.arange(48000) / 48000
    assert 1000 <= bandwidth_hz([np.sin(2 * np.pi * 1000 * t)], 48000) <= 24000


def test_files_are_measured_at_their_own_rate(tmp_path: Path):
    x = lowpassed_noise(3.0, 48000, 15000)
    wav = tmp_path / "x.wav"
    sf.write(wav, x, 48000, subtype="FLOAT")
    flac = tmp_path / "x.flac"
    flac.write_bytes(av_encode("flac", "flac", [x[:, None]], 48000))
    assert wav_bandwidth_hz(wav) == bandwidth_hz([x], 48000)
    assert 15000 <= file_bandwidth_hz(flac) <= 15300


@pytest.mark.parametrize(("rate_hz", "wide_rate_hz"), [(48000, 48000), (44100, 44100),
                                                      (96000, 48000), (8000, 8000)])
def test_decode_measures_the_input_before_resampling(tmp_path: Path, rate_hz: int,
                                                     wide_rate_hz: int):
    cutoff_hz = min(14000.0, rate_hz * 0.4)
    x = lowpassed_noise(3.0, rate_hz, cutoff_hz)
    src = tmp_path / "in.flac"
    sf.write(src, x, rate_hz, subtype="PCM_24")
    narrow, wide = tmp_path / "in16k.wav", tmp_path / "wide.wav"
    info = probe_and_decode_to_wav(src, narrow, target_rate_hz=16000, wide_wav_path=wide)
    assert cutoff_hz <= info.bandwidth_hz <= cutoff_hz + 300  # not the 16 kHz decode's 8 kHz
    assert sf.info(str(narrow)).samplerate == 16000
    kept, kept_rate = sf.read(str(wide), dtype="float32")
    assert kept_rate == wide_rate_hz
    expected = x if rate_hz == wide_rate_hz else soxr.resample(x, rate_hz, wide_rate_hz, "HQ")
    assert len(kept) == len(expected)
    error = kept[1000:-1000] - expected[1000:-1000]
    assert 10 * np.log10(np.mean(error**2) / np.mean(expected**2)) < -60
    # the two decodes are time-aligned: the 16 kHz one is the wide one resampled
    low, _ = sf.read(str(narrow), dtype="float32")
    again = soxr.resample(kept, wide_rate_hz, 16000, "HQ")[: len(low)]
    if wide_rate_hz > 16000:
        lag = np.argmax(signal.correlate(low[:16000], again[:16000], "full")) - 15999
        assert lag == 0


def test_the_wide_decode_is_only_written_for_an_accepted_input(tmp_path: Path):
    src = tmp_path / "silence.wav"
    sf.write(src, np.zeros(48000, np.float32), 48000)
    wide = tmp_path / "wide.wav"
    with pytest.raises(Exception, match="silent"):
        probe_and_decode_to_wav(src, tmp_path / "n.wav", wide_wav_path=wide)
    assert not wide.exists() and not (tmp_path / "n.wav").exists()
    assert list(tmp_path.iterdir()) == [src]
