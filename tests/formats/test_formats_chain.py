"""Every input format a phone or a laptop produces, through the whole in-process chain
(`speakup.pipeline.enhance_file`: decode → enhance → upsample → master → encode), out as WAV
16/24-bit or FLAC at the requested rate — with the headers read by an independent parser.

tests/shared/test_decode.py checks what decoding alone yields; here the known answer is the
delivered file: a 1 kHz tone in, a 1 kHz tone out at −16 LUFS, as long as the input, in exactly
the container, bit depth and sample rate asked for. Fixtures are encoded by the tests with PyAV
and libsndfile; the fast engines (passthrough + resample) keep each case about a second.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speakup.pipeline import ChainOptions, enhance_file
from tests.formats.formats_support import read_header
from tests.media import av_encode, soundfile_bytes, tone

TONE_HZ = 1000.0
DURATION_S = 2.0
PODCAST_LUFS = -16.0


def _signal(rate_hz: int, channels: int) -> np.ndarray:
    """A 1 kHz tone over a quieter 300 Hz one, [samples, channels]."""
    return tone(TONE_HZ, DURATION_S, rate_hz, channels, 0.3) + tone(300, DURATION_S, rate_hz,
                                                                      channels, 0.1)


def _sf(rate: int, channels: int, fmt: str, subtype: str) -> Callable[[], bytes]:
    return lambda: soundfile_bytes(_signal(rate, channels), rate, fmt, subtype)


def _av(container: str, codec: str, rate: int, video: str | None = None) -> Callable[[], bytes]:
    return lambda: av_encode(container, codec, [_signal(rate, 2)], rate, video_codec=video)


# (file name, bytes maker, lossless)
INPUTS = [
    ("u8.wav", _sf(22050, 1, "WAV", "PCM_U8"), True),
    ("s16.wav", _sf(44100, 2, "WAV", "PCM_16"), True),
    ("s24.wav", _sf(48000, 2, "WAV", "PCM_24"), True),
    ("s32.wav", _sf(96000, 1, "WAV", "PCM_32"), True),
    ("f32.wav", _sf(44100, 2, "WAV", "FLOAT"), True),
    ("f64.wav", _sf(16000, 1, "WAV", "DOUBLE"), True),
    ("s24.flac", _sf(48000, 2, "FLAC", "PCM_24"), True),
    ("a.mp3", _av("mp3", "libmp3lame", 44100), False),
    ("a.m4a", _av("ipod", "aac", 44100), False),
    ("a.ogg", _sf(44100, 2, "OGG", "VORBIS"), False),
    ("a.opus", _sf(48000, 2, "OGG", "OPUS"), False),
    ("a.webm", _av("webm", "libopus", 48000), False),
    ("v.mp4", _av("mp4", "aac", 44100, "mpeg4"), False),
    ("v.mov", _av("mov", "aac", 48000, "mpeg4"), False),
    ("v.mkv", _av("matroska", "libopus", 48000, "mpeg4"), False),
]
# (format, bit depth, rate): every delivered kind, cycled over the inputs
OUTPUTS = [("wav", 24, 48000), ("wav", 16, 44100), ("flac", 24, 48000), ("flac", 16, 44100),
           ("wav", 24, 44100), ("flac", 24, 16000), ("wav", 16, 48000)]
CASES = [(name, make, lossless, OUTPUTS[i % len(OUTPUTS)])
         for i, (name, make, lossless) in enumerate(INPUTS)]


def dominant_hz(audio: np.ndarray, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * rate_hz / len(audio))


@pytest.mark.parametrize(("name", "make", "lossless", "output"), CASES,
                         ids=[f"{c[0]}->{c[3][0]}{c[3][1]}@{c[3][2]}" for c in CASES])
def test_input_format_through_the_whole_chain(tmp_path: Path, name: str,
                                               make: Callable[[], bytes], lossless: bool,
                                               output: tuple[str, int, int]) -> None:
    fmt, bit_depth, rate_hz = output
    src = tmp_path / name
    src.write_bytes(make())
    dst = tmp_path / f"out.{fmt}"
    seen: list[str] = []
    report = enhance_file(src, dst, ChainOptions(
        engine="passthrough", upsampler="resample", preset="podcast", format=fmt,
        bit_depth=bit_depth, sample_rate_hz=rate_hz),
        progress=lambda stage, _: seen.append(stage) if stage not in seen else None)

    assert seen == ["decode", "enhance", "upsample", "master"] or (
        rate_hz == 16000 and seen == ["decode", "enhance", "master"])
    header = read_header(dst)
    assert (header.container, header.sample_rate_hz, header.channels,
            header.bits_per_sample) == (fmt, rate_hz, 1, bit_depth)
    # lossy codecs add priming/padding (up to ≈ 60 ms) but never lose time
    tolerance_s = 1e-3 if lossless else 0.07
    assert header.frames / rate_hz == pytest.approx(DURATION_S, abs=tolerance_s)
    assert report.input["duration_s"] == pytest.approx(header.frames / rate_hz, abs=1e-3)

    info = sf.info(str(dst))
    assert info.format == fmt.upper() and info.subtype == f"PCM_{bit_depth}"
    audio, _ = sf.read(str(dst), dtype="float32")
    assert dominant_hz(audio[rate_hz // 4:-rate_hz // 4], rate_hz) == pytest.approx(TONE_HZ, abs=5)
    assert report.metrics["output_lufs"] == pytest.approx(PODCAST_LUFS, abs=0.5)
    assert report.metrics["output_true_peak_dbtp"] <= -1.0 + 0.05
    assert 20 * np.log10(np.max(np.abs(audio))) <= -0.9  # sample peak under the limit too
    assert report.engine["enhancer"] == "passthrough"


def test_the_input_is_not_trusted_by_its_name(tmp_path: Path) -> None:
    """An m4a named .wav (as messaging apps rename files) still goes through."""
    src = tmp_path / "voice-message.wav"
    src.write_bytes(_av("ipod", "aac", 44100)())
    dst = tmp_path / "out.wav"
    report = enhance_file(src, dst, ChainOptions(engine="passthrough", upsampler="resample"))
    assert report.input["codec"] == "aac"
    assert read_header(dst).sample_rate_hz == 48000
