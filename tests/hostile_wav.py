"""Hostile WAV files: broken RIFF structure, impossible rates and channel counts, bit depths
and block alignments that lie (registered in `tests.hostile_base.CASES`)."""

from __future__ import annotations

import struct

import numpy as np

from tests.hostile_base import HostileCase, _speech_like, _wav16, case
from tests.media import pcm16, wav_bytes


# -- broken WAV structure ---------------------------------------------------------------------
@case
def truncated_riff_header() -> HostileCase:
    return HostileCase("short.wav", _wav16()[:20], "not_audio")


@case
def riff_header_without_samples() -> HostileCase:
    return HostileCase("header_only.wav", wav_bytes(b""), "too_short")


@case
def fmt_chunk_size_zero() -> HostileCase:
    return HostileCase("fmt0.wav", _wav16(fmt_size=0), "not_audio")


@case
def data_size_past_eof() -> HostileCase:
    """A recorder that crashed before fixing the header: decode what is there."""
    return HostileCase("crashed.wav", _wav16(data_size=10 * 32000), None)


@case
def sizes_all_ffffffff() -> HostileCase:
    """Streamed WAVs (ffmpeg pipes, some recorders) write 0xFFFFFFFF sizes: decode them."""
    return HostileCase("streamed.wav", _wav16(riff_size=0xFFFFFFFF, data_size=0xFFFFFFFF), None)


@case
def huge_info_chunk() -> HostileCase:
    """4 MiB of LIST/INFO metadata before the audio: skipped, the audio decodes."""
    text = b"INAM" + struct.pack("<I", 4 << 20) + b"A" * (4 << 20)
    info = b"LIST" + struct.pack("<I", len(text) + 4) + b"INFO" + text
    return HostileCase("tagged.wav", _wav16(chunks_before_data=info), None)


@case
def chunk_size_past_eof() -> HostileCase:
    """A chunk before ``data`` claims 2 GB: the data chunk is unreachable."""
    junk = b"junk" + struct.pack("<I", 0x7FFFFFF0) + bytes(64)
    return HostileCase("junk.wav", _wav16(chunks_before_data=junk), "not_audio")


@case
def sample_rate_1_hz() -> HostileCase:
    return HostileCase("slow.wav", _wav16(rate_hz=1), "unsupported_sample_rate")


@case
def sample_rate_10_mhz() -> HostileCase:
    return HostileCase("fast.wav", _wav16(rate_hz=10_000_000), "unsupported_sample_rate")


@case
def sample_rate_zero() -> HostileCase:
    return HostileCase("zero_rate.wav", _wav16(rate_hz=0), "not_audio")


@case
def sample_rate_4_khz() -> HostileCase:
    return HostileCase("4k.wav", _wav16(rate_hz=4000), "unsupported_sample_rate")


@case
def sample_rate_384_khz() -> HostileCase:
    return HostileCase("384k.wav", _wav16(rate_hz=384_000), "unsupported_sample_rate")


@case
def channels_64() -> HostileCase:
    return HostileCase("64ch.wav", _wav16(channels=64), "too_many_channels")


@case
def channels_zero() -> HostileCase:
    return HostileCase("0ch.wav", _wav16(channels=0, block_align=2), "not_audio")


@case
def unknown_format_tag() -> HostileCase:
    return HostileCase("codec.wav", _wav16(format_tag=0x7A7A), "not_audio")


@case
def bits_per_sample_zero() -> HostileCase:
    return HostileCase("0bit.wav", _wav16(bits=0, block_align=2), "not_audio")


# PCM bit depths no writer produces: FFmpeg rounds them up (7 → 8, 12 → 16, 20 → 24) and
# "decodes" noise at the wrong speed, so the header is refused before anything is decoded.
@case
def pcm_7_bit() -> HostileCase:
    return HostileCase("7bit.wav", _wav16(bits=7, block_align=1), "unsupported_bit_depth")


@case
def pcm_12_bit() -> HostileCase:
    return HostileCase("12bit.wav", _wav16(bits=12, block_align=2), "unsupported_bit_depth")


@case
def pcm_20_bit_in_3_bytes() -> HostileCase:
    return HostileCase("20bit.wav", _wav16(bits=20, block_align=3), "unsupported_bit_depth")


@case
def pcm_64_bit_integer() -> HostileCase:
    return HostileCase("64bit.wav", _wav16(bits=64, block_align=8), "unsupported_bit_depth")


@case
def float_16_bit() -> HostileCase:
    return HostileCase("f16.wav", _wav16(format_tag=3), "unsupported_bit_depth")


@case
def block_align_disagrees() -> HostileCase:
    """16-bit mono whose header says 3 bytes per frame: FFmpeg would read it anyway."""
    return HostileCase("align3.wav", _wav16(block_align=3), "malformed_wav_header")


@case
def block_align_of_stereo_on_mono() -> HostileCase:
    return HostileCase("align4.wav", _wav16(block_align=4), "malformed_wav_header")


@case
def extensible_valid_bits_beyond_container() -> HostileCase:
    return HostileCase("ext.wav", wav_bytes(pcm16(_speech_like()), **_extensible(16, 24)),
                       "malformed_wav_header")


@case
def extensible_20_in_24_bits_is_fine() -> HostileCase:
    """WAVE_FORMAT_EXTENSIBLE with 20 valid bits in 24-bit samples: a real recorder's file."""
    audio = (np.clip(_speech_like()[:, 0], -1, 1) * (2**23 - 1)).astype("<i4")
    payload = b"".join(int(v).to_bytes(3, "little", signed=True) for v in audio)
    return HostileCase("ext20.wav", wav_bytes(payload, **_extensible(24, 20)), None)


def _extensible(bits: int, valid_bits: int) -> dict[str, object]:
    """`wav_bytes` arguments for a WAVE_FORMAT_EXTENSIBLE PCM header (cbSize 22)."""
    guid = bytes.fromhex("0100000000001000800000aa00389b71")
    extension = struct.pack("<HHI", 22, valid_bits, 0x4) + guid
    return {"bits": bits, "format_tag": 0xFFFE, "fmt_size": 40, "extension": extension}
