"""Encode the mastered audio (a mono float WAV) into the delivered format, streamed block by
block: WAV/FLAC with soundfile, MP3 (LAME), AAC in m4a and Ogg Opus with PyAV (FFmpeg) — and
measure what a listener will hear: the delivered file decoded again, its loudness, true peak and
duration. Lossy encoders overshoot the true peak the limiter set (a quantised spectrum rings);
`shared.audio.deliver` uses the measurement to keep the delivered file at ≤ −1 dBTP.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf
import soxr

from shared.audio.formats import MP3_VBR_QUALITY, OutputFormat
from shared.audio.frames import downmix, frame_channels
from shared.audio.loudness import oversample
from shared.audio.loudness_stream import StreamingLoudness

BLOCK_S = 30.0
_SUBTYPES = {16: "PCM_16", 24: "PCM_24"}
TAG_NAMES = ("title", "artist")


@dataclass(frozen=True)
class Measured:
    """The delivered file, decoded: what a player plays."""

    duration_s: float
    sample_rate_hz: int
    lufs: float
    true_peak_dbtp: float


def encode_audio_file(src_wav: Path, dst: Path, fmt: OutputFormat, *, rate_hz: int,
                      bit_depth: int = 24, bitrate_kbps: int | None = None,
                      tags: Mapping[str, str] | None = None) -> None:
    """`src_wav` (mono float at ``rate_hz``) → `dst` in ``fmt`` (an audio-only format), written
    beside and renamed, so `dst` is never half a file."""
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.part")
    try:
        if fmt.lossy:
            with av.open(str(tmp), "w", format=fmt.muxer) as out:
                _set_tags(out.metadata, tags)
                stream = add_audio_stream(out, fmt, rate_hz, bitrate_kbps)
                _set_tags(stream.metadata, tags)  # Ogg keeps its comments on the stream
                write_audio(out, stream, src_wav, rate_hz)
        else:
            _write_lossless(src_wav, tmp, fmt, bit_depth, tags)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _write_lossless(src_wav: Path, dst: Path, fmt: OutputFormat, bit_depth: int,
                    tags: Mapping[str, str] | None) -> None:
    info = sf.info(str(src_wav))
    with sf.SoundFile(str(src_wav)) as reader, open_lossless(
        dst, fmt, info.samplerate, bit_depth, tags
    ) as writer:
        for block in reader.blocks(blocksize=int(BLOCK_S * info.samplerate), dtype="float32"):
            writer.write(np.clip(block.reshape(-1), -1.0, 1.0))


def open_lossless(dst: Path, fmt: OutputFormat, rate_hz: int, bit_depth: int,
                  tags: Mapping[str, str] | None) -> sf.SoundFile:
    """A mono WAV/FLAC writer at ``bit_depth`` with the tags set: RIFF INFO (INAM, IART) in WAV,
    Vorbis comments in FLAC."""
    writer = sf.SoundFile(str(dst), "w", samplerate=rate_hz, channels=1,
                          subtype=_SUBTYPES[bit_depth],
                          format="FLAC" if fmt.name == "flac" else "WAV")
    for name in TAG_NAMES:
        if tags and tags.get(name):
            setattr(writer, name, tags[name])
    return writer


def _set_tags(metadata: Any, tags: Mapping[str, str] | None) -> None:
    for name in TAG_NAMES:
        if tags and tags.get(name):
            metadata[name] = tags[name]


def add_audio_stream(out: Any, fmt: OutputFormat, rate_hz: int,
                     bitrate_kbps: int | None) -> Any:
    """A mono audio stream of ``fmt``'s codec: MP3 VBR (LAME -V2) unless a bit rate is asked
    for (then CBR); AAC and Opus at the asked or default bit rate."""
    stream = out.add_stream(fmt.audio_codec, rate=rate_hz)
    stream.layout = "mono"
    context = stream.codec_context
    if fmt.audio_codec == "libmp3lame" and bitrate_kbps is None:
        context.qscale = True  # AV_CODEC_FLAG_QSCALE: LAME's VBR mode
        context.global_quality = MP3_VBR_QUALITY  # PyAV converts QP units to lambda itself
    else:
        context.bit_rate = 1000 * (bitrate_kbps or fmt.default_kbps or 128)
    return stream


def _blocks(src_wav: Path, rate_hz: int) -> Iterator[np.ndarray]:
    """Mono float32 blocks of `src_wav`, resampled to ``rate_hz`` where it differs (Opus)."""
    info = sf.info(str(src_wav))
    resampler = None
    if info.samplerate != rate_hz:
        resampler = soxr.ResampleStream(info.samplerate, rate_hz, 1, dtype="float32",
                                        quality="VHQ")
    with sf.SoundFile(str(src_wav)) as reader:
        for block in reader.blocks(blocksize=int(BLOCK_S * info.samplerate), dtype="float32"):
            x = np.clip(block.reshape(-1), -1.0, 1.0)
            if resampler is not None:
                x = resampler.resample_chunk(x, last=reader.tell() >= info.frames)
            yield x


def write_audio(out: Any, stream: Any, src_wav: Path, rate_hz: int) -> None:
    """Encode `src_wav` into ``stream`` and mux every packet."""
    for packet in audio_packets(stream, src_wav, rate_hz):
        out.mux(packet)


def audio_packets(stream: Any, src_wav: Path, rate_hz: int, *, start_pts: int = 0,
                  pad_to_samples: int = 0) -> Iterator[Any]:
    """Encoded packets of `src_wav` for ``stream``, lazily (a muxer can interleave them with
    another stream's). ``start_pts`` (samples) places the first sample on the timeline;
    ``pad_to_samples`` appends silence up to that length (a video's audio ending before its
    picture)."""
    context = stream.codec_context
    resampler = av.AudioResampler(format=context.format, layout="mono", rate=rate_hz,
                                  frame_size=context.frame_size or None)
    written = 0

    def encode(samples: np.ndarray | None) -> Iterator[Any]:
        nonlocal written
        frame = None
        if samples is not None:
            frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
            frame.sample_rate, frame.time_base = rate_hz, Fraction(1, rate_hz)
            frame.pts = start_pts + written
            written += len(samples)
        for chunk in resampler.resample(frame):
            yield from stream.encode(chunk)

    for block in _blocks(src_wav, rate_hz):
        if len(block):
            yield from encode(np.ascontiguousarray(block, dtype=np.float32))
    if pad_to_samples > written:
        yield from encode(np.zeros(pad_to_samples - written, np.float32))
    yield from encode(None)
    yield from stream.encode(None)


def measure_delivered(path: Path) -> Measured:
    """Decode the delivered file's audio stream (the first one) at its own rate, as a player
    would, and measure integrated loudness (BS.1770-4) and true peak (4× oversampled)."""
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate)
        meter = StreamingLoudness(rate)
        peak, samples, tail = 0.0, 0, np.zeros(0, np.float32)
        for x in _decoded_blocks(container, stream, int(5.0 * rate)):
            meter.feed(x)
            samples += len(x)
            # with the previous block's last samples: no inter-sample peak is lost at a seam
            joined = np.concatenate([tail, x])
            if len(joined) > 8:
                peak = max(peak, float(np.max(np.abs(oversample(joined)))))
            tail = joined[-16:]
    return Measured(
        duration_s=samples / rate,
        sample_rate_hz=rate,
        lufs=meter.integrated_lufs(),
        true_peak_dbtp=float(20 * np.log10(max(peak, 1e-12))),
    )


def _decoded_blocks(container: Any, stream: Any, block_samples: int) -> Iterator[np.ndarray]:
    """Mono float32 blocks of about ``block_samples`` (codec frames are 1-3 k samples)."""
    pending: list[np.ndarray] = []
    count = 0
    for frame in container.decode(stream):
        pending.append(downmix(frame_channels(frame)))
        count += frame.samples
        if count >= block_samples:
            yield np.concatenate(pending)
            pending, count = [], 0
    if pending:
        yield np.concatenate(pending)
