"""What SpeakUp can deliver: each output format's container, codec, MIME type and limits.

The name is the file suffix (CLI) and ``options.format`` (API). ``video`` is not a format of its
own: it stands for the input's container (`resolve_format`), so a phone's mp4 comes back as mp4
with its picture untouched. Anything not in `FORMATS` is refused before any work is done.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutputFormat:
    name: str  # the suffix and options.format
    muxer: str  # FFmpeg's muxer (soundfile writes wav and flac)
    audio_codec: str  # FFmpeg encoder, or "pcm"/"flac" (soundfile)
    content_type: str
    lossy: bool
    video: bool  # the input's video stream(s) copied in beside the audio
    sample_rates_hz: tuple[int, ...] | None = None  # None: any the chain delivers
    default_kbps: int | None = None  # lossy: bit rate when none is asked for (mp3: VBR instead)


FORMATS: dict[str, OutputFormat] = {f.name: f for f in (
    OutputFormat("wav", "wav", "pcm", "audio/wav", lossy=False, video=False),
    OutputFormat("flac", "flac", "flac", "audio/flac", lossy=False, video=False),
    OutputFormat("mp3", "mp3", "libmp3lame", "audio/mpeg", lossy=True, video=False),
    OutputFormat("m4a", "ipod", "aac", "audio/mp4", lossy=True, video=False, default_kbps=128),
    OutputFormat("opus", "ogg", "libopus", "audio/ogg", lossy=True, video=False,
                 sample_rates_hz=(48000,), default_kbps=96),
    OutputFormat("mp4", "mp4", "aac", "video/mp4", lossy=True, video=True, default_kbps=160),
    OutputFormat("mov", "mov", "aac", "video/quicktime", lossy=True, video=True, default_kbps=160),
    OutputFormat("mkv", "matroska", "libopus", "video/x-matroska", lossy=True, video=True,
                 sample_rates_hz=(48000,), default_kbps=128),
    OutputFormat("webm", "webm", "libopus", "video/webm", lossy=True, video=True,
                 sample_rates_hz=(48000,), default_kbps=128),
)}  # fmt: skip
AUDIO_FORMATS = tuple(name for name, f in FORMATS.items() if not f.video)
VIDEO_FORMATS = tuple(name for name, f in FORMATS.items() if f.video)
VIDEO = "video"  # options.format: the input's own container
MP3_VBR_QUALITY = 2  # LAME -V2 (≈ 170-210 kbps stereo music; speech in mono far less)


def get_format(name: str) -> OutputFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"SpeakUp cannot write {name!r}; it writes "
                         f"{', '.join(FORMATS)}") from None


def resolve_format(requested: str, input_container: str | None) -> OutputFormat:
    """``video`` → the input's container (``input_container`` as `video.video_container_of`
    names it); any other name → itself."""
    if requested == VIDEO:
        if input_container is None:
            raise ValueError("the input has no video to keep")
        return get_format(input_container)
    return get_format(requested)


def delivered_rate_hz(fmt: OutputFormat, requested_hz: int) -> int:
    """The sample rate the file will have: Opus only runs at 48 kHz."""
    rates = fmt.sample_rates_hz
    return requested_hz if rates is None or requested_hz in rates else rates[0]
