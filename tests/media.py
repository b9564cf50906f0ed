"""Make test media in memory: tones, raw WAV headers (lying ones included), and real encodes of
any container/codec through PyAV. Shared by the decode tests and the hostile-input corpus."""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence

import av
import numpy as np
import soundfile as sf


def tone(
    freq_hz: float, duration_s: float, rate_hz: int, channels: int = 1, amplitude: float = 0.5
) -> np.ndarray:
    """A sine, ``[samples, channels]`` float32 (channel k at freq_hz, all in phase)."""
    t = np.arange(int(round(duration_s * rate_hz))) / rate_hz
    mono = (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def soundfile_bytes(audio: np.ndarray, rate_hz: int, fmt: str, subtype: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, rate_hz, format=fmt, subtype=subtype)
    return buf.getvalue()


def wav_bytes(
    payload: bytes,
    *,
    rate_hz: int = 16000,
    channels: int = 1,
    bits: int = 16,
    format_tag: int = 1,
    fmt_size: int = 16,
    riff_size: int | None = None,
    data_size: int | None = None,
    block_align: int | None = None,
    chunks_before_data: bytes = b"",
    extension: bytes = b"",
) -> bytes:
    """A RIFF/WAVE file written by hand, so every header field can lie. ``extension``: the
    bytes after the 16 basic ``fmt `` bytes (cbSize onwards), cut or padded to ``fmt_size``."""
    align = channels * bits // 8 if block_align is None else block_align
    fmt = struct.pack("<HHIIHH", format_tag, channels, rate_hz, rate_hz * align, align, bits)
    fmt = (fmt + extension)[:fmt_size].ljust(fmt_size, b"\0")
    body = (b"WAVE" + b"fmt " + struct.pack("<I", fmt_size) + fmt + chunks_before_data
            + b"data" + struct.pack("<I", len(payload) if data_size is None else data_size)
            + payload)  # fmt: skip
    size = len(body) if riff_size is None else riff_size
    return b"RIFF" + struct.pack("<I", size) + body


def pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def _to_frames(stream: av.AudioStream, audio: np.ndarray, rate_hz: int) -> list[av.AudioFrame]:
    """Float ``[samples, channels]`` → frames in the encoder's own format and frame size."""
    layout = {1: "mono", 2: "stereo"}[audio.shape[1]]
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(audio.T, dtype=np.float32), format="fltp", layout=layout
    )
    frame.sample_rate = rate_hz
    context = stream.codec_context
    resampler = av.AudioResampler(
        format=context.format, layout=layout, rate=rate_hz, frame_size=context.frame_size or None
    )
    return list(resampler.resample(frame)) + list(resampler.resample(None))


def av_encode(
    container: str,
    codec: str,
    tracks: Sequence[np.ndarray],
    rate_hz: int,
    *,
    video_codec: str | None = None,
    options: dict[str, str] | None = None,
) -> bytes:
    """Encode audio tracks (each ``[samples, channels]``) with PyAV, optionally beside a small
    video stream (2 s of black at 10 fps) as phones write video files."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        video = None
        if video_codec:
            video = out.add_stream(video_codec, rate=10)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        streams = []
        for audio in tracks:
            stream = out.add_stream(codec, rate=rate_hz, options=dict(options or {}))
            stream.layout = {1: "mono", 2: "stereo"}[audio.shape[1]]
            streams.append(stream)
        if video is not None:
            black = np.zeros((48, 64, 3), np.uint8)
            for i in range(20):
                frame = av.VideoFrame.from_ndarray(black, format="rgb24")
                frame.pts = i
                out.mux(video.encode(frame))
            out.mux(video.encode(None))
        for stream, audio in zip(streams, tracks, strict=True):
            for frame in _to_frames(stream, audio, rate_hz):
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    return buf.getvalue()


def opus_bomb(hours: float, container: str = "ogg") -> bytes:
    """Hours of silence at Opus' lowest bitrate: 2-byte packets of 120 ms (≈ 18 KB per hour of
    payload). Packets are encoded once and repeated, so this takes seconds, not hours."""

    class Unseekable(io.RawIOBase):  # a "live" WebM, as MediaRecorder writes: no duration
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            self.data += b
            return len(b)

    target: io.BytesIO | Unseekable = io.BytesIO() if container == "ogg" else Unseekable()
    frame_samples = 5760  # 120 ms at 48 kHz
    with av.open(target, "w", format=container) as out:
        stream = out.add_stream("libopus", rate=48000,
                                options={"frame_duration": "120", "b": "500"})  # fmt: skip
        stream.layout = "mono"
        silence = np.zeros((1, frame_samples), np.int16)
        packets = []
        for i in range(3):
            frame = av.AudioFrame.from_ndarray(silence, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 48000, i * frame_samples
            packets += stream.encode(frame)
        payload, time_base = bytes(packets[-1]), packets[-1].time_base
        for i in range(int(hours * 3600 * 48000 / frame_samples)):
            packet = av.Packet(payload)
            packet.stream, packet.time_base = stream, time_base
            packet.pts = packet.dts = i * frame_samples
            packet.duration = frame_samples
            out.mux(packet)
    return bytes(target.getvalue() if isinstance(target, io.BytesIO) else target.data)


def fullband_speech(seconds: float, rate_hz: int, top_hz: float,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A voice-like signal whose sound reaches ``top_hz``: a gliding 110-190 Hz pulse train's
    harmonics up to ``top_hz`` (amplitude 1/k), syllables at ~4 Hz, fricative-like noise bursts
    from 4 kHz to ``top_hz`` between them, and pauses. Returns ``(audio float32, talking)``,
    ``talking`` a 0/1 mask per sample that is 0 in the pauses (where only noise can be)."""
    from scipy import signal

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    f0 = 150 + 40 * np.sin(2 * np.pi * 0.31 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate_hz
    voiced = np.zeros_like(t)
    for k in range(1, int(top_hz / 110)):
        voiced += (f0 * k < top_hz) / k * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    syllables = np.clip(np.sin(2 * np.pi * 3.7 * t) + 0.4 * np.sin(2 * np.pi * 1.1 * t), 0, None)
    talking = (np.sin(2 * np.pi * 0.23 * t) > -0.6).astype(np.float32)
    band = signal.butter(8, [4000, top_hz], btype="band", fs=rate_hz, output="sos")
    fricatives = signal.sosfilt(band, rng.standard_normal(len(t))) * np.clip(0.5 - syllables, 0,
                                                                               None)
    x = (voiced * syllables + 0.3 * fricatives) * talking
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32), talking
