"""Video in → video out: phone-like videos made here with PyAV (nothing stored), through the
chain's last step with the input as `video_src`. The picture must come back untouched — the
same codec, frame count and packet bytes (SHA-256 of every packet) at the same timestamps — with
the enhanced audio as AAC (mp4/mov) or Opus (webm/mkv), the audio and video ending within one
frame of each other, and the container's metadata kept."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from services.upsampler.finish import finish_file
from shared.audio.decode import decode_array
from shared.audio.formats import resolve_format
from shared.audio.video import video_container_of
from tests.media import tone

FPS = 25
# container → (muxer, video encoder, audio encoder of the input, audio decoder of the output)
CASES = {
    "mp4": ("mp4", "libx264", "aac", "aac"),
    "webm": ("webm", "libvpx-vp9", "libopus", "opus"),
    "mov": ("mov", "mpeg4", "aac", "aac"),
    "mkv": ("matroska", "libx264", "libopus", "opus"),
}


def _encode_all(stream, frames) -> list:
    packets = []
    for frame in frames:
        packets += stream.encode(frame)
    return packets + list(stream.encode(None))


def make_video(path: Path, muxer: str, video_codec: str, audio_codec: str, *,
               seconds: float = 3.0, audio_seconds: float | None = None) -> None:
    """Noisy 160×120 pictures at 25 fps and a stereo voice-band tone, with container tags."""
    rng = np.random.default_rng(1)
    with av.open(str(path), "w", format=muxer) as out:
        out.metadata["title"] = "Interview take 3"
        out.metadata["creation_time"] = "2024-05-01T10:00:00.000000Z"
        video = out.add_stream(video_codec, rate=FPS)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        video.metadata["language"] = "eng"
        audio = out.add_stream(audio_codec, rate=48000)
        audio.layout = "stereo"
        pictures = []
        for i in range(int(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(
                rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), format="rgb24")
            frame.pts = i
            pictures.append(frame)
        sound = tone(300.0, audio_seconds or seconds, 48000, 2, 0.3)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(sound.T), format="fltp",
                                           layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, 0, Fraction(1, 48000)
        resampler = av.AudioResampler(format=audio.codec_context.format, layout="stereo",
                                      rate=48000, frame_size=audio.codec_context.frame_size)
        chunks = list(resampler.resample(frame)) + list(resampler.resample(None))
        packets = _encode_all(video, pictures) + _encode_all(audio, chunks)
        for packet in sorted(packets, key=lambda p: float(p.dts * p.time_base)):
            out.mux(packet)


def video_packets(path: Path) -> tuple[str, list[tuple[int, str]]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.name, [
            (int(p.pts * p.time_base * FPS), hashlib.sha256(bytes(p)).hexdigest())
            for p in container.demux(stream) if p.size]


def stream_ends_s(path: Path) -> dict[str, float]:
    """Where each stream's last packet ends (s), per stream type."""
    ends: dict[str, float] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is None or not packet.size:
                continue
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            kind = packet.stream.type
            ends[kind] = max(ends.get(kind, 0.0), end)
    return ends


def _enhanced(src: Path, tmp_path: Path) -> Path:
    """The input's audio as the chain would hand it to mastering (mono, 48 kHz)."""
    audio, _ = decode_array(src, target_rate_hz=48000)
    wide = tmp_path / "wide.wav"
    sf.write(str(wide), audio, 48000, subtype="FLOAT")
    return wide


@pytest.mark.parametrize("kind", list(CASES))
def test_the_picture_is_copied_untouched_beside_the_enhanced_audio(tmp_path: Path, kind: str):
    muxer, video_codec, audio_codec, out_audio = CASES[kind]
    src = tmp_path / f"in.{kind}"
    make_video(src, muxer, video_codec, audio_codec)
    assert video_container_of(src) == kind
    fmt = resolve_format("video", video_container_of(src))
    dst = tmp_path / f"out.{kind}"
    metrics = finish_file(_enhanced(src, tmp_path), dst, target_rate_hz=48000, preset="video",
                          fmt=fmt, bit_depth=24, video_src=src, tags={"artist": "Ada"})

    codec_in, packets_in = video_packets(src)
    codec_out, packets_out = video_packets(dst)
    assert codec_out == codec_in and len(packets_out) == len(packets_in) == 3 * FPS
    assert packets_out == packets_in  # same bytes at the same frame times
    with av.open(str(dst)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert container.streams.audio[0].codec_context.name == out_audio
        assert container.streams.video[0].metadata.get("language") == "eng"
        tags = {k.lower(): v for k, v in container.metadata.items()}
    assert tags["title"] == "Interview take 3" and tags["artist"] == "Ada"
    assert tags["creation_time"].startswith("2024-05-01T10:00:00")
    ends = stream_ends_s(dst)
    print(f"VIDEO {kind}: {len(packets_out)} packets identical, video ends {ends['video']:.3f} s,"
          f" audio {ends['audio']:.3f} s, {metrics['output_lufs']} LUFS,"
          f" {metrics['output_true_peak_dbtp']} dBTP")
    assert abs(ends["audio"] - ends["video"]) <= 1 / FPS
    assert metrics["output_true_peak_dbtp"] <= -1.0
    assert metrics["output_lufs"] == pytest.approx(-14.0, abs=1.0)
    assert metrics["output_format"] == kind


def test_audio_that_ends_before_the_picture_is_padded_to_it(tmp_path: Path):
    src = tmp_path / "in.mp4"
    make_video(src, "mp4", "libx264", "aac", seconds=3.0, audio_seconds=2.2)
    dst = tmp_path / "out.mp4"
    finish_file(_enhanced(src, tmp_path), dst, target_rate_hz=48000, preset="podcast",
                fmt="mp4", bit_depth=24, video_src=src)
    ends = stream_ends_s(dst)
    assert abs(ends["audio"] - ends["video"]) <= 1 / FPS, ends


def test_audio_only_files_have_no_video_to_keep(tmp_path: Path):
    src = tmp_path / "memo.m4a"
    with av.open(str(src), "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(tone(300.0, 1.0, 48000, 1, 0.3).T.copy(),
                                           format="fltp", layout="mono")
        frame.sample_rate = 48000
        for packet in stream.encode(frame):
            out.mux(packet)
        out.mux(stream.encode(None))
    assert video_container_of(src) is None
    with pytest.raises(ValueError, match="no video"):
        resolve_format("video", None)


def test_a_picture_the_container_cannot_hold_is_found_before_any_work(tmp_path: Path):
    from shared.audio.formats import get_format
    from shared.audio.video import check_remuxable

    src = tmp_path / "in.mp4"
    make_video(src, "mp4", "libx264", "aac", seconds=1.0)
    check_remuxable(src, get_format("mkv"))  # Matroska takes H.264
    with pytest.raises(ValueError, match="webm"):
        check_remuxable(src, get_format("webm"))  # WebM: VP8, VP9, AV1 only
