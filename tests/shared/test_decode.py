"""Decode & validate: round trips through every container/codec phones produce, and one hostile
file per rejection code (tests/hostile_corpus.py)."""

from __future__ import annotations

import io
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from shared.audio.decode import (
    MESSAGES,
    AudioRejected,
    DecodeLimits,
    content_type_for,
    decode_array,
    encode_audio,
    probe_and_decode_to_wav,
)
from tests.hostile_corpus import CASES, HostileCase
from tests.media import av_encode, opus_bomb, pcm16, soundfile_bytes, tone, wav_bytes

TONE_HZ = 1000.0
CODES_TESTED_HERE = {"file_too_large", "decode_timeout"}


def dominant_hz(audio: np.ndarray, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * rate_hz / len(audio))


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _sf(rate: int, channels: int, fmt: str, subtype: str) -> Callable[[], bytes]:
    return lambda: soundfile_bytes(tone(TONE_HZ, 1.0, rate, channels), rate, fmt, subtype)


def _av(container: str, codec: str, rate: int, video: str | None = None) -> Callable[[], bytes]:
    return lambda: av_encode(container, codec, [tone(TONE_HZ, 1.0, rate, 2)], rate,
                             video_codec=video)  # fmt: skip


# name, bytes maker, (codec, container, rate, channels, bit depth), lossless
ROUND_TRIPS = [
    ("u8.wav", _sf(44100, 2, "WAV", "PCM_U8"), ("pcm_u8", "wav", 44100, 2, 8), True),
    ("s16.wav", _sf(44100, 2, "WAV", "PCM_16"), ("pcm_s16le", "wav", 44100, 2, 16), True),
    ("s24.wav", _sf(48000, 2, "WAV", "PCM_24"), ("pcm_s24le", "wav", 48000, 2, 24), True),
    ("s32.wav", _sf(96000, 1, "WAV", "PCM_32"), ("pcm_s32le", "wav", 96000, 1, 32), True),
    ("f32.wav", _sf(22050, 2, "WAV", "FLOAT"), ("pcm_f32le", "wav", 22050, 2, 32), True),
    ("f64.wav", _sf(16000, 1, "WAV", "DOUBLE"), ("pcm_f64le", "wav", 16000, 1, 64), True),
    ("phone.wav", _sf(8000, 1, "WAV", "PCM_16"), ("pcm_s16le", "wav", 8000, 1, 16), True),
    ("s24.flac", _sf(48000, 2, "FLAC", "PCM_24"), ("flac", "flac", 48000, 2, 24), True),
    ("s16.flac", _sf(44100, 1, "FLAC", "PCM_16"), ("flac", "flac", 44100, 1, 16), True),
    ("a.mp3", _av("mp3", "libmp3lame", 44100), ("mp3float", "mp3", 44100, 2, None), False),
    ("a.m4a", _av("ipod", "aac", 44100), ("aac", "mov", 44100, 2, None), False),
    ("a.ogg", _sf(44100, 2, "OGG", "VORBIS"), ("vorbis", "ogg", 44100, 2, None), False),
    ("a.opus", _sf(48000, 2, "OGG", "OPUS"), ("opus", "ogg", 48000, 2, None), False),
    ("a.webm", _av("webm", "libopus", 48000), ("opus", "matroska", 48000, 2, None), False),
    ("v.mp4", _av("mp4", "aac", 44100, "mpeg4"), ("aac", "mov", 44100, 2, None), False),
    ("v.mov", _av("mov", "aac", 48000, "mpeg4"), ("aac", "mov", 48000, 2, None), False),
    (
        "v.mkv",
        _av("matroska", "libopus", 48000, "mpeg4"),
        ("opus", "matroska", 48000, 2, None),
        False,
    ),
]


@pytest.mark.parametrize(("name", "make", "expected", "lossless"), ROUND_TRIPS,
                         ids=[r[0] for r in ROUND_TRIPS])  # fmt: skip
def test_round_trip(
    tmp_path: Path,
    name: str,
    make: Callable[[], bytes],
    expected: tuple[str, str, int, int, int | None],
    lossless: bool,
) -> None:
    codec, container, rate_hz, channels, bit_depth = expected
    audio, info = decode_array(write(tmp_path, name, make()), target_rate_hz=16000)
    assert (info.codec, info.container, info.sample_rate_hz, info.channels, info.bit_depth) == (
        codec,
        container,
        rate_hz,
        channels,
        bit_depth,
    )
    assert audio.dtype == np.float32 and audio.ndim == 1
    # Lossy encoders add priming/padding (AAC: up to 1024 + a frame) but never lose time.
    tolerance_s = 1e-3 if lossless else 0.06
    assert info.duration_s == pytest.approx(1.0, abs=tolerance_s)
    assert len(audio) == pytest.approx(16000 * info.duration_s, abs=2)
    assert info.has_video == name.startswith("v.")
    assert dominant_hz(audio, 16000) == pytest.approx(TONE_HZ, abs=5)
    middle = audio[2000:-2000]
    rms = float(np.sqrt(np.mean(middle**2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.01 if lossless else 0.15)
    if lossless:
        assert info.peak_dbfs == pytest.approx(20 * np.log10(0.5), abs=0.1)
    else:  # codecs ring at the tone's abrupt onset
        assert -8.0 < info.peak_dbfs < 0.0


def test_decode_to_wav_matches_array_and_is_atomic(tmp_path: Path) -> None:
    src = write(tmp_path, "in.flac", _sf(44100, 2, "FLAC", "PCM_24")())
    audio, info = decode_array(src)
    dst = tmp_path / "out.wav"
    to_wav = probe_and_decode_to_wav(src, dst, target_rate_hz=16000, limits=DecodeLimits())
    assert replace(to_wav, decode_s=0.0) == replace(info, decode_s=0.0)
    written, rate_hz = sf.read(dst, dtype="float32")
    assert rate_hz == 16000 and sf.info(dst).subtype == "FLOAT" and sf.info(dst).channels == 1
    np.testing.assert_array_equal(written, audio)

    pcm_dst = tmp_path / "pcm.wav"
    probe_and_decode_to_wav(src, pcm_dst, subtype="PCM_16")
    pcm, _ = sf.read(pcm_dst, dtype="float32")
    assert sf.info(pcm_dst).subtype == "PCM_16"
    assert np.max(np.abs(pcm - audio)) < 1e-4

    bad = write(tmp_path, "bad.wav", wav_bytes(bytes(32000)))  # silent
    with pytest.raises(AudioRejected):
        probe_and_decode_to_wav(bad, tmp_path / "never.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bad.wav",
        "in.flac",
        "out.wav",
        "pcm.wav",
    ]


def test_eight_audio_streams_pick_the_first_predictably(tmp_path: Path) -> None:
    tracks = [tone(300.0 + 100 * i, 1.0, 44100) for i in range(8)]
    data = av_encode("matroska", "aac", tracks, 44100, video_codec="mpeg4")
    audio, info = decode_array(write(tmp_path, "dubbed.mkv", data))
    assert info.audio_streams == 8 and info.stream_index == 1 and info.has_video  # 0 = video
    assert dominant_hz(audio, 16000) == pytest.approx(300.0, abs=5)


@pytest.mark.parametrize("make", CASES, ids=[c.__name__ for c in CASES])
def test_hostile_corpus(tmp_path: Path, make: Callable[[], HostileCase]) -> None:
    case = make()
    path = write(tmp_path, case.name, case.data)
    started = time.monotonic()
    if case.expected_code is None:
        audio, info = decode_array(path)
        assert info.duration_s > 0.1 and np.isfinite(audio).all()
    else:
        with pytest.raises(AudioRejected) as caught:
            decode_array(path)
        assert caught.value.code == case.expected_code, caught.value.detail
        assert caught.value.message == MESSAGES[case.expected_code]
    assert time.monotonic() - started < 5.0


def test_corpus_is_broad_and_every_code_is_tested() -> None:
    assert len(CASES) >= 40
    corpus_codes = {make().expected_code for make in CASES}
    tested = {code for code in corpus_codes if code} | CODES_TESTED_HERE
    assert tested == set(MESSAGES), set(MESSAGES) ^ tested


def test_bomb_without_duration_is_stopped_while_decoding(tmp_path: Path) -> None:
    """A "live" WebM (no duration in its header, as MediaRecorder writes) holding 4 hours:
    decoding stops as soon as the limit is passed, in proportion to the limit, not the file."""
    path = write(tmp_path, "live.webm", opus_bomb(4.0, container="webm"))
    started = time.monotonic()
    with pytest.raises(AudioRejected) as caught:
        decode_array(path, limits=DecodeLimits(max_duration_s=60.0))
    assert caught.value.code == "too_long" and caught.value.detail.startswith("decoded past")
    assert time.monotonic() - started < 10.0
    # The same file against a wall-time budget: decode_timeout.
    with pytest.raises(AudioRejected) as caught:
        decode_array(path, limits=DecodeLimits(max_decode_s=0.3))
    assert caught.value.code == "decode_timeout"


def test_file_too_large(tmp_path: Path) -> None:
    path = write(tmp_path, "a.wav", wav_bytes(pcm16(tone(440, 1.0, 16000))))
    with pytest.raises(AudioRejected) as caught:
        decode_array(path, limits=DecodeLimits(max_input_bytes=1000))
    assert caught.value.code == "file_too_large"


def test_header_limits_are_configurable(tmp_path: Path) -> None:
    stereo_8k = write(tmp_path, "a.wav", wav_bytes(pcm16(tone(440, 2.0, 8000, 2)), rate_hz=8000,
                                                   channels=2))  # fmt: skip
    for limits, code in [(DecodeLimits(max_channels=1), "too_many_channels"),
                         (DecodeLimits(min_sample_rate_hz=16000), "unsupported_sample_rate"),
                         (DecodeLimits(max_duration_s=1.0), "too_long"),
                         (DecodeLimits(min_duration_s=3.0), "too_short")]:  # fmt: skip
        with pytest.raises(AudioRejected) as caught:
            decode_array(stereo_8k, limits=limits)
        assert caught.value.code == code


def test_memory_stays_flat_on_a_long_file(tmp_path: Path) -> None:
    """5 minutes at 48 kHz (29 MB of WAV in, 19 MB of float WAV out): the peak of Python-side
    allocations (numpy's included) stays well under a MiB, whatever the length."""
    block = pcm16(tone(TONE_HZ, 60.0, 48000))
    src = tmp_path / "long.wav"
    with open(src, "wb") as out:
        out.write(wav_bytes(b"", rate_hz=48000, data_size=5 * len(block)))
        for _ in range(5):
            out.write(block)
    tracemalloc.start()
    try:
        info = probe_and_decode_to_wav(src, tmp_path / "out.wav")
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.duration_s == pytest.approx(300.0, abs=1e-3)
    assert sf.info(tmp_path / "out.wav").frames == pytest.approx(300 * 16000, abs=2)
    assert peak_bytes < 2 * 1024**2, f"peak {peak_bytes / 1024**2:.1f} MiB"


@pytest.mark.parametrize(("fmt", "bit_depth"), [("wav", 16), ("wav", 24), ("flac", 16),
                                                ("flac", 24)])  # fmt: skip
def test_encode_audio(tmp_path: Path, fmt: str, bit_depth: int) -> None:
    audio = tone(TONE_HZ, 0.5, 48000)[:, 0] * 1.6  # overs must clip, not wrap around
    path = tmp_path / f"out.{fmt}"
    encode_audio(path, audio, 48000, fmt, bit_depth)  # type: ignore[arg-type]
    back, rate_hz = sf.read(path, dtype="float64")
    info = sf.info(path)
    assert rate_hz == 48000 and info.format == fmt.upper()
    assert info.subtype == f"PCM_{bit_depth}"
    expected = np.clip(audio, -1, 1)
    assert np.max(np.abs(back - expected)) < 2.0 / 2 ** (bit_depth - 1)
    assert content_type_for(fmt) == {"wav": "audio/wav", "flac": "audio/flac"}[fmt]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_encode_audio_rejects_unknown_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        encode_audio(tmp_path / "x.mp3", np.zeros(10), 16000, "mp3")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        encode_audio(tmp_path / "x.wav", np.zeros(10), 16000, "wav", 8)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        content_type_for("ogg")


def test_mp3_with_cover_art_is_audio_only(tmp_path: Path) -> None:
    """Podcast/music apps embed a cover picture as a "video" stream: it is not a video."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as out:
        audio = out.add_stream("libmp3lame", rate=44100)
        audio.layout = "mono"
        cover = out.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = 16, 16, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        out.mux(cover.encode(picture.reformat(format="yuvj420p")))
        out.mux(cover.encode(None))
        frame = av.AudioFrame.from_ndarray(tone(TONE_HZ, 1.0, 44100).T.copy(), format="fltp",
                                           layout="mono")  # fmt: skip
        frame.sample_rate = 44100
        resampler = av.AudioResampler(format=audio.codec_context.format, layout="mono",
                                      rate=44100, frame_size=1152)  # fmt: skip
        for chunk in resampler.resample(frame):
            out.mux(audio.encode(chunk))
        out.mux(audio.encode(None))
    decoded, info = decode_array(write(tmp_path, "episode.mp3", buf.getvalue()))
    assert not info.has_video and info.audio_streams == 1 and info.codec == "mp3float"
    assert info.duration_s == pytest.approx(1.0, abs=0.06)
    assert dominant_hz(decoded, 16000) == pytest.approx(TONE_HZ, abs=5)
