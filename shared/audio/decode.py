"""Decode and validate an untrusted upload: any common container/codec → mono float at 16 kHz.

Streamed end to end (packets → frames → downmix → soxr streaming resampler → WAV written as it
goes), so memory stays flat for a 2-hour file. The extension and the client's content type are
never consulted: FFmpeg probes the bytes, restricted to the demuxers in `probe.ALLOWED_DEMUXERS`.

Rejections raise `AudioRejected(code, message)`. The codes are stable API:

| code                    | when                                                                 |
|-------------------------|----------------------------------------------------------------------|
| empty_file              | the file has 0 bytes                                                 |
| file_too_large          | the file is larger than ``max_input_bytes``                          |
| not_audio               | FFmpeg cannot open it with an allowed demuxer (text, images, PDFs,   |
|                         | playlists, truncated headers, unknown containers), no decoder exists |
|                         | for its audio codec, or not one sample decodes from its audio stream |
| no_audio_stream         | a valid container without any audio stream (e.g. a silent video)     |
| too_many_streams        | more than ``max_streams`` streams in the container                   |
| too_many_channels       | more than ``max_channels`` channels (header or any decoded frame)    |
| unsupported_sample_rate | outside ``min_sample_rate_hz`` … ``max_sample_rate_hz``              |
| too_long                | header duration, or decoded duration so far, above ``max_duration_s``|
|                         | (decoding stops the moment the limit is passed: no "bomb" runs long) |
| too_short               | less than ``min_duration_s`` of audio decoded                        |
| decode_timeout          | decoding took more than ``max_decode_s`` of wall time                |
| corrupt_audio           | decoder errors beyond a tolerance (more than ``max_decode_errors``,  |
|                         | or ≥ 3 errors in more than ``max_decode_error_ratio`` of packets), a |
|                         | lossy decoder emitting NaN/Inf/absurd levels (garbage frames), or    |
|                         | less than ``min_decoded_fraction`` of the claimed duration decodable |
| invalid_samples         | PCM float samples stored as NaN, ±Inf or beyond ``max_abs_sample``   |
| silent_audio            | every channel's peak at or below ``silence_peak_dbfs`` (digital      |
|                         | silence, or nothing but 1-LSB dither)                                |
| unsupported_bit_depth   | a PCM WAV header at a bit depth not 8/16/24/32 (float: 32/64), which |
|                         | FFmpeg would round up and decode as noise (`shared.audio.wavfmt`)    |
| malformed_wav_header    | a PCM/float WAV whose block align disagrees with channels × bits, or |
|                         | whose valid bits exceed the sample size                              |

Files that merely look odd are decoded, not rejected: a WAV whose data size is 0xFFFFFFFF or
points past the end (a recorder that crashed before finishing the header), a file whose
extension lies, a truncated MP3. Several audio streams: the first one marked default, else the
first audio stream, is used (reported as ``stream_index`` / ``audio_streams``).

While decoding, the input's effective bandwidth (`shared.audio.bandwidth`) is measured at its own
rate (capped at `WIDE_MAX_RATE_HZ`), before anything is resampled; `probe_and_decode_to_wav` can
also write that wide signal, for the band the 16 kHz enhancer never sees.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
import soundfile as sf

from shared.audio.bandwidth import BandwidthMeter
from shared.audio.encode import content_type_for, encode_audio
from shared.audio.errors import MESSAGES, AudioRejected
from shared.audio.pipeline import FramePipeline, Sink
from shared.audio.probe import Header, open_container, read_header, select_audio_stream
from shared.audio.wavfmt import check_wave_format

__all__ = ["AudioRejected", "DecodeLimits", "InputInfo", "MESSAGES", "content_type_for",
           "decode_array", "encode_audio", "probe_and_decode_to_wav"]  # fmt: skip

WIDE_MAX_RATE_HZ = 48_000  # the chain's output rate: nothing above 24 kHz is kept


@dataclass(frozen=True)
class DecodeLimits:
    max_duration_s: float = 3 * 3600.0
    min_duration_s: float = 0.1
    max_channels: int = 8
    min_sample_rate_hz: int = 8000
    max_sample_rate_hz: int = 192_000
    max_decode_s: float = 600.0  # wall time
    max_input_bytes: int = 2 * 1024**3
    max_streams: int = 32
    max_decode_errors: int = 50
    max_decode_error_ratio: float = 0.05
    max_abs_sample: float = 64.0  # +36 dBFS: beyond it a float file is broken, not hot
    silence_peak_dbfs: float = -90.0  # 1 LSB of 16-bit is -90.3 dBFS
    min_decoded_fraction: float = 0.25  # of the duration the header claims


@dataclass(frozen=True)
class InputInfo:
    """Facts about the input, measured while decoding (durations from samples, not headers)."""

    duration_s: float
    sample_rate_hz: int  # original rate
    channels: int
    codec: str
    container: str
    bit_depth: int | None
    size_bytes: int
    stream_index: int
    audio_streams: int
    has_video: bool
    peak_dbfs: float
    decode_errors: int
    decode_s: float
    bandwidth_hz: float | None = None  # sound up to (Hz), at the original rate


def wide_rate_hz(sample_rate_hz: int | None) -> int:
    """The rate the input is kept at beside the 16 kHz decode: its own, at most 48 kHz."""
    return min(sample_rate_hz or WIDE_MAX_RATE_HZ, WIDE_MAX_RATE_HZ)


def _check_header(header: Header, limits: DecodeLimits) -> None:
    if header.channels > limits.max_channels:
        raise AudioRejected("too_many_channels", detail=f"{header.channels} channels")
    rate = header.sample_rate_hz
    if rate and not limits.min_sample_rate_hz <= rate <= limits.max_sample_rate_hz:
        raise AudioRejected("unsupported_sample_rate", detail=f"{rate} Hz")
    if header.duration_s is not None and header.duration_s > limits.max_duration_s:
        raise AudioRejected("too_long", detail=f"header says {header.duration_s:.0f} s")


def _demux_and_decode(
    container: Any, stream: Any, pipeline: FramePipeline, limits: DecodeLimits, started: float
) -> tuple[int, int]:
    """Run every packet of ``stream`` through the decoder into ``pipeline``; returns
    (packets, decoder errors). Enforces the wall-time and duration limits as it goes."""
    packets = errors = 0
    packet_iter = container.demux(stream)
    while True:
        if time.monotonic() - started > limits.max_decode_s:
            raise AudioRejected("decode_timeout", detail=f"after {pipeline.samples_s:.0f} s")
        try:
            packet = next(packet_iter)
        except StopIteration:
            break
        except av.FFmpegError:  # the container breaks off: keep what was decoded
            errors += 1
            break
        packets += 1
        try:
            frames = packet.decode()
        except av.FFmpegError:
            errors += 1
            if errors > limits.max_decode_errors:
                raise AudioRejected("corrupt_audio", detail=f"{errors} decoder errors") from None
            continue
        for frame in frames:
            pipeline.add(frame)
        if pipeline.samples_s > limits.max_duration_s:
            raise AudioRejected("too_long", detail=f"decoded past {pipeline.samples_s:.0f} s")
    return packets, errors


def _decode(src_path: Path, target_rate_hz: int, limits: DecodeLimits, sink: Sink,
            open_wide: Callable[[int], Sink] | None = None,
            progress: Callable[[float], None] | None = None) -> InputInfo:
    """``open_wide(rate)``, once the header is read: a sink for the input at that rate."""
    started = time.monotonic()
    size_bytes = src_path.stat().st_size  # a missing file is our bug, not the user's: raises
    if size_bytes == 0:
        raise AudioRejected("empty_file")
    if size_bytes > limits.max_input_bytes:
        raise AudioRejected("file_too_large", detail=f"{size_bytes} bytes")
    with open_container(src_path) as container:
        if container.format.name == "wav":
            check_wave_format(src_path)  # before FFmpeg rounds an odd bit depth up
        stream = select_audio_stream(container, limits.max_streams)
        header = read_header(container, stream, size_bytes)
        _check_header(header, limits)
        # Float samples stored in the file (PCM float) are the user's data: "invalid_samples".
        # A lossy decoder emitting NaN or +40 dBFS was fed garbage: "corrupt_audio".
        stored_floats = header.codec.startswith(("pcm_f", "pcm_d"))
        meter = BandwidthMeter(wide_rate_hz(header.sample_rate_hz))
        wide_sink = open_wide(meter.rate_hz) if open_wide is not None else None

        expected_s = header.duration_s or 0.0

        def wide(block: np.ndarray) -> None:
            meter.add(block)
            if wide_sink is not None:
                wide_sink(block)
            if progress is not None and expected_s > 0:
                progress(min(pipeline.samples_s / expected_s, 1.0))

        pipeline = FramePipeline(
            target_rate_hz,
            sink,
            max_channels=limits.max_channels,
            sample_rate_range_hz=(limits.min_sample_rate_hz, limits.max_sample_rate_hz),
            max_abs_sample=limits.max_abs_sample,
            float_code="invalid_samples" if stored_floats else "corrupt_audio",
            taps=[(meter.rate_hz, wide)],
        )
        packets, errors = _demux_and_decode(container, stream, pipeline, limits, started)
        pipeline.finish()
    samples_s, peak = pipeline.samples_s, pipeline.peak
    if samples_s == 0.0:  # an audio stream from which nothing decodes is not audio
        code = "not_audio" if errors else "too_short"
        raise AudioRejected(code, detail=f"nothing decoded ({errors} errors)")
    if errors >= 3 and errors / max(packets, 1) > limits.max_decode_error_ratio:
        raise AudioRejected("corrupt_audio", detail=f"{errors} errors in {packets} packets")
    # Only the audio stream's own claim counts: a video's audio may be shorter than its picture.
    claimed_s = (header.duration_s or 0.0) if header.stream_claims_duration else 0.0
    if samples_s < limits.min_decoded_fraction * claimed_s and claimed_s - samples_s > 1.0:
        # Decoders resync silently over garbage; most of the promised audio missing means the
        # file is damaged. (Loose on purpose: MP3 headers only estimate their duration.)
        raise AudioRejected("corrupt_audio", detail=f"{samples_s:.1f} of {claimed_s:.1f} s")
    if samples_s < limits.min_duration_s:
        raise AudioRejected("too_short", detail=f"{samples_s:.3f} s")
    peak_dbfs = 20 * np.log10(peak) if peak > 0 else -np.inf
    if peak_dbfs <= limits.silence_peak_dbfs:
        raise AudioRejected("silent_audio", detail=f"peak {peak_dbfs:.1f} dBFS")
    return InputInfo(
        duration_s=round(samples_s, 6),
        sample_rate_hz=header.sample_rate_hz or pipeline.rate_hz,
        channels=header.channels or pipeline.channels,
        codec=header.codec,
        container=header.container,
        bit_depth=header.bit_depth,
        size_bytes=size_bytes,
        stream_index=header.stream_index,
        audio_streams=header.audio_streams,
        has_video=header.has_video,
        peak_dbfs=round(float(peak_dbfs), 2),
        decode_errors=errors,
        decode_s=round(time.monotonic() - started, 3),
        bandwidth_hz=meter.hz(),
    )


def probe_and_decode_to_wav(
    src_path: Path | str,
    dst_wav_path: Path | str,
    *,
    target_rate_hz: int = 16000,
    limits: DecodeLimits | None = None,
    subtype: Literal["FLOAT", "PCM_16"] = "FLOAT",
    wide_wav_path: Path | str | None = None,
    progress: Callable[[float], None] | None = None,
) -> InputInfo:
    """Decode ``src_path`` to a mono WAV at ``target_rate_hz``; raises `AudioRejected`.

    ``wide_wav_path``: also write the input at `wide_rate_hz` (its own rate, at most 48 kHz),
    mono float. The WAVs appear only when the whole input passed (written beside, then renamed).
    ``progress``: the share decoded (0..1, by the header's duration), block by block.
    """
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(_atomic_wav(Path(dst_wav_path), target_rate_hz, subtype))
        clip = subtype != "FLOAT"

        def write(chunk: np.ndarray) -> None:
            out.write(np.clip(chunk, -1.0, 1.0) if clip else chunk)

        def open_wide(rate_hz: int) -> Sink:
            assert wide_wav_path is not None
            return stack.enter_context(_atomic_wav(Path(wide_wav_path), rate_hz, "FLOAT")).write

        return _decode(Path(src_path), target_rate_hz, limits or DecodeLimits(), write,
                       open_wide if wide_wav_path is not None else None, progress)


@contextlib.contextmanager
def _atomic_wav(dst: Path, rate_hz: int, subtype: str) -> Iterator[sf.SoundFile]:
    """A mono WAV written beside ``dst`` and renamed onto it only if the block ends cleanly."""
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.part")
    try:
        with sf.SoundFile(tmp, "w", samplerate=rate_hz, channels=1, subtype=subtype,
                          format="WAV") as out:
            yield out
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def decode_array(
    src_path: Path | str, *, target_rate_hz: int = 16000, limits: DecodeLimits | None = None
) -> tuple[np.ndarray, InputInfo]:
    """Decode a short file into memory: ``(audio [samples] float32 at target_rate_hz, info)``."""
    chunks: list[np.ndarray] = []
    info = _decode(Path(src_path), target_rate_hz, limits or DecodeLimits(), chunks.append)
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return audio, info
