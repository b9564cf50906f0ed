"""Video in → video out: the input's video stream(s) copied packet for packet (no re-encode)
into the same container, beside the enhanced audio encoded as AAC (mp4/mov) or Opus (mkv/webm).

The audio keeps the original audio's place on the timeline (its start time) and is padded with
silence where it would end before the picture, so audio and video end within a frame of each
other. Container metadata (creation time, title, ...) and the video streams' metadata
(language, handler, rotation) are kept. The input is untrusted: it is opened with the same
demuxer and protocol allow-lists as for decoding.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import av

from shared.audio.formats import OutputFormat
from shared.audio.probe import open_container, select_audio_stream
from shared.audio.publish import add_audio_stream, audio_packets

# Brand atoms describe the file FFmpeg writes now, not the one that came in.
_DROPPED_METADATA = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})
_MAX_STREAMS = 32


def _pictures(container: Any) -> list[Any]:
    """Video streams that are moving pictures (not a cover image)."""
    return [s for s in container.streams if s.type == "video"
            and not s.disposition & av.stream.Disposition.attached_pic]


def video_container_of(path: Path) -> str | None:
    """The output format that keeps this file's video: ``mp4``, ``mov``, ``mkv`` or ``webm``;
    None when it has no moving picture or sits in another container (avi, mpegts ...)."""
    with open_container(path) as container:
        if not _pictures(container):
            return None
        name = container.format.name
        if name.startswith("mov"):
            brand = str(container.metadata.get("major_brand", "")).strip()
            return "mov" if brand == "qt" else "mp4"
        if name.startswith("matroska"):
            return "webm" if _ebml_doctype(path) == "webm" else "mkv"
    return None


def check_remuxable(src: Path, fmt: OutputFormat) -> None:
    """Raise ValueError (FFmpeg's reason) when `src`'s video cannot be copied into ``fmt`` as it
    is — e.g. H.264 into WebM, which admits only VP8, VP9 and AV1. A dry run in memory: the
    streams are added and the header written, nothing else."""
    with open_container(src) as inp:
        pictures = _pictures(inp)
        if not pictures:
            raise ValueError("the input has no video stream to keep")
        out = av.open(io.BytesIO(), "w", format=fmt.muxer)
        try:
            for stream in pictures:
                out.add_stream_from_template(stream)
            add_audio_stream(out, fmt, 48000, None)
            out.start_encoding()
        except av.FFmpegError as exc:
            raise ValueError(str(exc)) from exc
        finally:
            out.close()


def _ebml_doctype(path: Path) -> str:
    """The EBML header's DocType (``webm`` or ``matroska``); FFmpeg does not report it."""
    with path.open("rb") as handle:
        head = handle.read(64)
    at = head.find(b"\x42\x82")
    if at < 0 or at + 3 > len(head):
        return ""
    size = head[at + 2] & 0x7F  # a one-byte EBML size (0x80 | n) in every writer seen
    return head[at + 3:at + 3 + size].decode("ascii", "replace")


def _end_s(container: Any, streams: list[Any]) -> float:
    """Where the last of ``streams`` ends (s), from its packets: headers often lack it."""
    end = 0.0
    for packet in container.demux(*streams):
        if packet.pts is None or packet.time_base is None:
            continue
        end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    container.seek(0)
    return end


def _start_s(stream: Any) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return max(0.0, float(stream.start_time * stream.time_base))


def mux_video(src: Path, audio_wav: Path, dst: Path, fmt: OutputFormat, *, rate_hz: int,
              bitrate_kbps: int | None = None, tags: Mapping[str, str] | None = None) -> None:
    """`src`'s video stream(s), copied, + `audio_wav` (mono float at ``rate_hz``, the enhanced
    audio of `src`'s audio stream) encoded for ``fmt`` → `dst` (written beside, renamed)."""
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.part")
    try:
        with open_container(src) as inp, av.open(str(tmp), "w", format=fmt.muxer) as out:
            pictures = _pictures(inp)
            if not pictures:
                raise ValueError("the input has no video stream to keep")
            source_audio = select_audio_stream(inp, _MAX_STREAMS)
            for key, value in inp.metadata.items():
                if key not in _DROPPED_METADATA:
                    out.metadata[key] = value
            for key in ("title", "artist"):
                if tags and tags.get(key):
                    out.metadata[key] = tags[key]
            copies = {}
            for stream in pictures:
                copy = out.add_stream_from_template(stream)
                copy.metadata.update(stream.metadata)
                copy.disposition = stream.disposition
                copies[stream.index] = copy
            audio = add_audio_stream(out, fmt, rate_hz, bitrate_kbps)
            if source_audio.language:
                audio.metadata["language"] = source_audio.language
            start_s = _start_s(source_audio)
            end_s = _end_s(inp, pictures)
            pad_to = max(0, round((end_s - start_s) * rate_hz))
            audio_iter = audio_packets(audio, audio_wav, rate_hz,
                                       start_pts=round(start_s * rate_hz), pad_to_samples=pad_to)
            _interleave(out, _video_packets(inp, pictures, copies), audio_iter)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _video_packets(inp: Any, pictures: list[Any], copies: dict[int, Any]) -> Iterator[Any]:
    for packet in inp.demux(*pictures):
        if packet.dts is None and packet.pts is None:
            continue  # the demuxer's flush packet: no data
        packet.stream = copies[packet.stream.index]
        yield packet


def _seconds(packet: Any) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float(ts * packet.time_base) if ts is not None and packet.time_base else 0.0


def _interleave(out: Any, video: Iterator[Any], audio: Iterator[Any]) -> None:
    """Mux both packet streams in time order (players and streaming want them interleaved;
    FFmpeg's own interleaving would buffer one whole stream when the other comes late)."""
    pending_video, pending_audio = next(video, None), next(audio, None)
    while pending_video is not None or pending_audio is not None:
        take_video = pending_audio is None or (
            pending_video is not None and _seconds(pending_video) <= _seconds(pending_audio))
        if take_video:
            out.mux(pending_video)
            pending_video = next(video, None)
        else:
            out.mux(pending_audio)
            pending_audio = next(audio, None)
