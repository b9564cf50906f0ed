"""Hostile and malformed inputs, generated (nothing downloaded, nothing stored in the repo).

Each case is a function returning ``HostileCase(name, data, expected_code)``: ``name`` carries
the extension a client would claim, ``expected_code`` is the `AudioRejected` code that decoding
with the default `DecodeLimits` must raise — or None where the right answer is to decode the
file anyway (a crashed recorder's WAV, a lying extension, the first of eight audio tracks).
Reused by tests/shared/test_decode.py and the fault/fuzz tests of the whole service:

    from tests.hostile_corpus import all_cases
    for case in all_cases(): ...

The WAV-structure cases live in tests/hostile_wav.py, the registry and shared signals in
tests/hostile_base.py; importing this module registers them all.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import zipfile

import numpy as np

import tests.hostile_wav  # noqa: F401 - registers the WAV-structure cases
from tests.hostile_base import CASES, HostileCase, _float_wav, _speech_like, _wav16, case
from tests.media import av_encode, opus_bomb, pcm16, soundfile_bytes, tone, wav_bytes

__all__ = ["CASES", "HostileCase", "all_cases"]


# -- not audio at all -------------------------------------------------------------------------
@case
def empty() -> HostileCase:
    return HostileCase("empty.wav", b"", "empty_file")


@case
def text_as_wav() -> HostileCase:
    return HostileCase("notes.wav", b"Meeting notes: remember to buy milk.\n" * 50, "not_audio")


@case
def random_bytes() -> HostileCase:
    """Random bytes happen to contain MP3 frame syncs: FFmpeg opens them, nothing decodes."""
    return HostileCase("noise.mp3", random.Random(7).randbytes(256 * 1024), "not_audio")


@case
def zero_bytes() -> HostileCase:
    return HostileCase("zeros.m4a", bytes(256 * 1024), "not_audio")


@case
def png_image() -> HostileCase:
    png = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
           + struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0) + b"\0\0\0\0")  # fmt: skip
    return HostileCase("photo.wav", png + bytes(1000), "not_audio")


@case
def jpeg_image() -> HostileCase:
    return HostileCase("photo.m4a", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(4000), "not_audio")


@case
def pdf_document() -> HostileCase:
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    return HostileCase("doc.mp3", pdf * 20, "not_audio")


@case
def html_page() -> HostileCase:
    html = b"<!doctype html><html><script>alert(1)</script><body>hi</body></html>"
    return HostileCase("page.ogg", html * 30, "not_audio")


@case
def zip_archive() -> HostileCase:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("recording.wav", _wav16())
    return HostileCase("recording.zip.wav", buf.getvalue(), "not_audio")


@case
def hls_playlist_reading_local_file() -> HostileCase:
    """FFmpeg's HLS demuxer would open the files a playlist names: SSRF / local file read."""
    m3u8 = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    return HostileCase("playlist.m4a", m3u8, "not_audio")


@case
def ffconcat_reading_local_file() -> HostileCase:
    return HostileCase("list.wav", b"ffconcat version 1.0\nfile /etc/passwd\n", "not_audio")


@case
def sdp_reaching_network() -> HostileCase:
    sdp = b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 0\n"
    return HostileCase("stream.sdp.wav", sdp, "not_audio")


# -- sample values --------------------------------------------------------------------------------
@case
def float_nan() -> HostileCase:
    samples = _speech_like()[:, 0].copy()
    samples[8000:8100] = np.nan
    return HostileCase("nan.wav", _float_wav(samples), "invalid_samples")


@case
def float_inf() -> HostileCase:
    samples = _speech_like()[:, 0].copy()
    samples[100] = np.inf
    return HostileCase("inf.wav", _float_wav(samples), "invalid_samples")


@case
def float_astronomical() -> HostileCase:
    return HostileCase("huge.wav", _float_wav(_speech_like()[:, 0] * 1e30), "invalid_samples")


@case
def float_int16_scaled() -> HostileCase:
    """Floats written on the int16 scale (±32767) by a buggy exporter."""
    return HostileCase("scaled.wav", _float_wav(_speech_like()[:, 0] * 32767), "invalid_samples")


@case
def all_zero_pcm16() -> HostileCase:
    return HostileCase("silence.wav", wav_bytes(bytes(32000)), "silent_audio")


@case
def all_zero_float() -> HostileCase:
    return HostileCase("silence_f.wav", _float_wav(np.zeros(16000)), "silent_audio")


@case
def one_lsb_dither() -> HostileCase:
    dither = np.random.default_rng(3).integers(-1, 2, 16000).astype("<i2")
    return HostileCase("dither.wav", wav_bytes(dither.tobytes()), "silent_audio")


@case
def unsigned_8bit_silence() -> HostileCase:
    return HostileCase("u8.wav", wav_bytes(b"\x80" * 16000, bits=8), "silent_audio")


@case
def silent_flac() -> HostileCase:
    data = soundfile_bytes(np.zeros((16000, 2), np.float32), 16000, "FLAC", "PCM_16")
    return HostileCase("silence.flac", data, "silent_audio")


@case
def too_short_50_ms() -> HostileCase:
    return HostileCase("blip.wav", wav_bytes(pcm16(tone(440, 0.05, 16000))), "too_short")


# -- compressed formats, containers and streams -------------------------------------------------
@functools.lru_cache(maxsize=1)
def _mp3() -> bytes:
    return av_encode("mp3", "libmp3lame", [_speech_like(3.0, 44100)], 44100)


@case
def opus_bomb_10_hours() -> HostileCase:
    """A 1.8 MB Ogg/Opus upload that decodes to 10 hours (rejected from the header)."""
    return HostileCase("bomb.opus", _bomb(), "too_long")


@functools.lru_cache(maxsize=1)
def _bomb() -> bytes:
    return opus_bomb(10.0)


@case
def mp3_garbage_frames() -> HostileCase:
    """A valid MP3 whose frames, past the first few, are overwritten with frame-sync garbage."""
    data = bytearray(_mp3())
    rng = random.Random(11)
    for pos in range(2000, len(data) - 4, 200):
        data[pos : pos + 4] = bytes([0xFF, 0xFB, rng.randrange(256), rng.randrange(256)])
        data[pos + 4 : pos + 100] = rng.randbytes(96)
    return HostileCase("garbled.mp3", bytes(data), "corrupt_audio")


@case
def mp3_truncated() -> HostileCase:
    """An upload cut off mid-way: what arrived is decoded."""
    data = _mp3()
    return HostileCase("cut.mp3", data[: len(data) // 2], None)


@case
def id3_tag_only() -> HostileCase:
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 0x08, 0]) + bytes(1024)
    return HostileCase("tag_only.mp3", tag, "not_audio")


@case
def mp4_without_audio() -> HostileCase:
    return HostileCase(
        "screen.mp4", av_encode("mp4", "aac", [], 44100, video_codec="mpeg4"), "no_audio_stream"
    )


@case
def mp4_truncated_before_moov() -> HostileCase:
    data = av_encode("mp4", "aac", [_speech_like(1.0, 44100)], 44100)
    return HostileCase("cut.m4a", data[: len(data) // 3], "not_audio")


@case
def video_with_8_audio_streams() -> HostileCase:
    """Eight language tracks: the first (default) one is decoded, predictably."""
    tracks = [tone(300.0 + 100 * i, 1.0, 44100) for i in range(8)]
    return HostileCase(
        "dubbed.mkv", av_encode("matroska", "aac", tracks, 44100, video_codec="mpeg4"), None
    )


@case
def matroska_with_40_audio_streams() -> HostileCase:
    tracks = [tone(300.0, 0.2, 16000) for _ in range(40)]
    return HostileCase(
        "many.mka", av_encode("matroska", "pcm_s16le", tracks, 16000), "too_many_streams"
    )


@case
def flac_claiming_10_hours() -> HostileCase:
    """STREAMINFO's total-samples field says 10 hours; the file holds one second."""
    data = bytearray(soundfile_bytes(_speech_like(), 16000, "FLAC", "PCM_16"))
    total = 10 * 3600 * 16000
    # STREAMINFO starts at byte 8; total samples are its low 36 bits at offsets 13..17.
    data[21] = (data[21] & 0xF0) | ((total >> 32) & 0x0F)
    data[22:26] = struct.pack(">I", total & 0xFFFFFFFF)
    return HostileCase("long.flac", bytes(data), "too_long")


@case
def flac_frames_overwritten() -> HostileCase:
    data = bytearray(soundfile_bytes(_speech_like(4.0), 16000, "FLAC", "PCM_16"))
    rng = random.Random(5)
    data[200:] = rng.randbytes(len(data) - 200)
    return HostileCase("broken.flac", bytes(data), "corrupt_audio")


@case
def ogg_page_then_garbage() -> HostileCase:
    data = soundfile_bytes(_speech_like(), 16000, "OGG", "VORBIS")
    return HostileCase("broken.ogg", data[:200] + random.Random(9).randbytes(20000), "not_audio")


@case
def flac_named_wav() -> HostileCase:
    """The extension lies (and so may the content type): the bytes decide."""
    return HostileCase(
        "really_flac.wav", soundfile_bytes(_speech_like(), 16000, "FLAC", "PCM_16"), None
    )


@case
def wav_named_mp3() -> HostileCase:
    return HostileCase("really_wav.mp3", _wav16(), None)


@case
def matroska_float_nan() -> HostileCase:
    """NaN samples inside a container other than WAV."""
    audio = _speech_like()
    audio[4000:4100] = np.nan
    return HostileCase(
        "nan.mka", av_encode("matroska", "pcm_f32le", [audio], 16000), "invalid_samples"
    )


def all_cases() -> list[HostileCase]:
    """Every case, generated (a few seconds, most of it the Opus bomb)."""
    return [make() for make in CASES]
