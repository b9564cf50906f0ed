"""Independent readers of the delivered files' headers (not libsndfile, which wrote them): the
RIFF/WAVE `fmt ` and `data` chunks, and FLAC's STREAMINFO block."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
PCM_SUBFORMAT_GUID = bytes.fromhex("0100000000001000800000aa00389b71")


@dataclass(frozen=True)
class Header:
    container: str
    sample_rate_hz: int
    channels: int
    bits_per_sample: int
    frames: int


def read_wav_header(path: Path) -> Header:
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", "not RIFF/WAVE"
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8, "RIFF size disagrees with file"
    pos, fmt, frames = 12, None, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8:pos + 8 + size]
        if chunk_id == b"fmt ":
            tag, channels, rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", body)
            if tag == WAVE_FORMAT_EXTENSIBLE:
                assert body[24:40] == PCM_SUBFORMAT_GUID, "extensible but not integer PCM"
            else:
                assert tag == WAVE_FORMAT_PCM, f"format tag {tag:#x}, not PCM"
            assert align == channels * bits // 8, "block align"
            assert byte_rate == rate * align, "byte rate"
            fmt = (channels, rate, bits, align)
        elif chunk_id == b"data":
            assert fmt is not None, "data before fmt"
            assert size % fmt[3] == 0, "data size is not whole frames"
            frames = size // fmt[3]
        pos += 8 + size + (size & 1)
    assert fmt is not None and frames is not None, "missing fmt or data chunk"
    return Header("wav", fmt[1], fmt[0], fmt[2], frames)


def read_flac_header(path: Path) -> Header:
    data = path.read_bytes()
    assert data[:4] == b"fLaC", "not FLAC"
    block_type = data[4] & 0x7F
    assert block_type == 0, "first metadata block must be STREAMINFO"
    info = data[8:8 + 34]
    packed = int.from_bytes(info[10:18], "big")  # 20 rate | 3 ch-1 | 5 bps-1 | 36 total samples
    rate = packed >> 44
    channels = ((packed >> 41) & 0x7) + 1
    bits = ((packed >> 36) & 0x1F) + 1
    frames = packed & ((1 << 36) - 1)
    return Header("flac", rate, channels, bits, frames)


def read_header(path: Path) -> Header:
    return read_flac_header(path) if path.read_bytes()[:4] == b"fLaC" else read_wav_header(path)
