"""Open an untrusted file with FFmpeg (PyAV), pick its audio stream and check its header.

Security: only the demuxers of common audio/video containers may open the file, and only the
``file`` protocol — so a playlist (HLS, ffconcat, SDP) uploaded as "audio" cannot make FFmpeg
read other local files or reach the network while probing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from shared.audio.errors import AudioRejected

# FFmpeg demuxer short names; a demuxer called "mov,mp4,m4a,3gp,3g2,mj2" matches "mov".
ALLOWED_DEMUXERS = (
    "wav", "w64", "flac", "mp3", "mov", "ogg", "matroska", "aac", "aiff", "caf", "amr", "wv",
    "asf", "au", "avi", "mpegts",
)  # fmt: skip
_OPEN_OPTIONS = {
    "format_whitelist": ",".join(ALLOWED_DEMUXERS),
    "protocol_whitelist": "file",
    "probesize": str(8 << 20),
    "analyzeduration": str(10_000_000),  # µs
}
_PCM_BITS = re.compile(r"^pcm_[suf](\d+)")


@dataclass(frozen=True)
class Header:
    """What the container says before anything is decoded (claims, not facts)."""

    container: str
    codec: str
    stream_index: int
    audio_streams: int
    has_video: bool
    sample_rate_hz: int  # 0 when unknown until the first frame
    channels: int  # 0 when unknown until the first frame
    duration_s: float | None
    stream_claims_duration: bool  # False: the container's (all streams') duration, or none
    bit_depth: int | None


def open_container(path: Path) -> Any:
    """The container, opened with the demuxer and protocol allow-lists; `not_audio` otherwise."""
    try:
        return av.open(str(path), options=dict(_OPEN_OPTIONS), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise AudioRejected("not_audio", detail=f"open: {type(exc).__name__}") from exc


def _has_decoder(stream: Any) -> bool:
    try:
        return stream.codec_context is not None and bool(stream.codec_context.name)
    except (av.FFmpegError, ValueError):
        return False


def select_audio_stream(container: Any, max_streams: int) -> Any:
    """The first audio stream marked default, else the first audio stream (lowest index).

    Deterministic on purpose: a video with eight audio tracks (languages, commentary) is
    processed from the track players pick by default, and the choice is reported
    (``stream_index``, ``audio_streams``) with the job's input facts.
    """
    streams = list(container.streams)
    if len(streams) > max_streams:
        raise AudioRejected("too_many_streams", detail=f"{len(streams)} streams")
    audio = [s for s in streams if s.type == "audio"]
    if not audio:
        raise AudioRejected("no_audio_stream")
    decodable = [s for s in audio if _has_decoder(s)]
    if not decodable:
        raise AudioRejected("not_audio", detail="no decoder for the audio stream")
    defaults = [s for s in decodable if s.disposition & av.stream.Disposition.default]
    return (defaults or decodable)[0]


def _bit_depth(codec: str, stream: Any) -> int | None:
    match = _PCM_BITS.match(codec)
    if match:
        return int(match.group(1))
    extradata = stream.codec_context.extradata or b""
    if codec == "flac" and len(extradata) >= 18:  # STREAMINFO: bits per sample - 1, 5 bits
        return (((extradata[12] & 0x01) << 4) | (extradata[13] >> 4)) + 1
    return None


def _claimed_duration_s(
    container: Any,
    stream: Any,
    size_bytes: int,
    bit_depth: int | None,
    channels: int,
    sample_rate_hz: int,
) -> tuple[float | None, bool]:
    """(claimed duration, whether the audio stream itself claims it — not the container)."""
    duration_s: float | None = None
    from_stream = stream.duration is not None and stream.time_base is not None
    if from_stream:
        duration_s = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration_s = container.duration / 1_000_000
    codec = stream.codec_context.name
    if bit_depth and codec.startswith("pcm_") and channels and sample_rate_hz:
        # A streamed WAV's data size is often 0xFFFFFFFF or past EOF: raw PCM cannot hold more
        # audio than the file has bytes, so trust the file size over the header.
        bound_s = size_bytes / (bit_depth / 8 * channels * sample_rate_hz)
        duration_s = bound_s if duration_s is None else min(duration_s, bound_s)
    return duration_s, from_stream


def read_header(container: Any, stream: Any, size_bytes: int) -> Header:
    context = stream.codec_context
    codec = context.name
    channels = int(context.channels or 0)
    sample_rate_hz = int(context.sample_rate or 0)
    bit_depth = _bit_depth(codec, stream)
    duration_s, from_stream = _claimed_duration_s(
        container, stream, size_bytes, bit_depth, channels, sample_rate_hz
    )
    return Header(
        container=container.format.name.split(",")[0],
        codec=codec,
        stream_index=stream.index,
        audio_streams=sum(1 for s in container.streams if s.type == "audio"),
        has_video=any(
            s.type == "video" and not s.disposition & av.stream.Disposition.attached_pic
            for s in container.streams
        ),
        sample_rate_hz=sample_rate_hz,
        channels=channels,
        duration_s=duration_s,
        stream_claims_duration=from_stream,
        bit_depth=bit_depth,
    )
