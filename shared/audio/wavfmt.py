"""The WAVE ``fmt `` chunk as the file states it, checked before anything is decoded.

FFmpeg rounds a PCM bit depth it does not know up to one it does: a header claiming 7 bits per
sample is read as 8-bit (12 as 16, 20 as 24), so the "decoded" audio is noise at the wrong speed
and nothing fails. No writer produces such a file; it is damaged or hostile, and it is refused
here with a code: ``unsupported_bit_depth``, or ``malformed_wav_header`` where the block align
contradicts the channels and bit depth.

Only integer PCM, IEEE float and their WAVE_FORMAT_EXTENSIBLE forms are judged; compressed
codecs (ADPCM, µ-law, GSM ...) and headers FFmpeg itself refuses (0 channels, 0 bits) are left
to the decoder, which answers them with their own codes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from shared.audio.errors import AudioRejected

PCM, IEEE_FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
CONTAINER_BITS = {PCM: (8, 16, 24, 32), IEEE_FLOAT: (32, 64)}
_MAX_CHUNKS = 64  # chunks walked before giving up the search for `fmt ` (FFmpeg decides then)


@dataclass(frozen=True)
class WaveFormat:
    format_tag: int  # the sub-format's tag for WAVE_FORMAT_EXTENSIBLE
    channels: int
    block_align: int
    bits_per_sample: int  # the container size of one sample
    valid_bits: int | None  # WAVE_FORMAT_EXTENSIBLE only


def read_wave_format(path: Path) -> WaveFormat | None:
    """The ``fmt `` chunk of a RIFF/RF64/BW64 (little-endian) or RIFX (big-endian) file, or None
    where there is none to be found."""
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[8:12] != b"WAVE":
            return None
        if head[:4] in (b"RIFF", b"RF64", b"BW64"):
            endian = "<"
        elif head[:4] == b"RIFX":
            endian = ">"
        else:
            return None
        for _ in range(_MAX_CHUNKS):
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, size = chunk[:4], struct.unpack(endian + "I", chunk[4:])[0]
            if chunk_id == b"fmt ":
                return _parse_fmt(handle.read(min(size, 64)), endian)
            if chunk_id == b"data":
                return None
            handle.seek(size + (size & 1), 1)
    return None


def _parse_fmt(body: bytes, endian: str) -> WaveFormat | None:
    if len(body) < 16:
        return None
    tag, channels, _, _, align, bits = struct.unpack(endian + "HHIIHH", body[:16])
    valid_bits = None
    if tag == EXTENSIBLE:
        if len(body) < 40:
            return None
        valid_bits = struct.unpack(endian + "H", body[18:20])[0]
        tag = struct.unpack(endian + "H", body[24:26])[0]  # the sub-format GUID's first field
    return WaveFormat(tag, channels, align, bits, valid_bits)


def check_wave_format(path: Path) -> None:
    """Raise `AudioRejected` for a PCM/float WAV header no writer produces; otherwise nothing."""
    fmt = read_wave_format(path)
    if fmt is None or fmt.format_tag not in CONTAINER_BITS or not fmt.channels:
        return
    bits = fmt.bits_per_sample
    if not bits:
        return
    kind = "float" if fmt.format_tag == IEEE_FLOAT else "PCM"
    if bits not in CONTAINER_BITS[fmt.format_tag]:
        raise AudioRejected("unsupported_bit_depth", detail=f"{kind} at {bits} bits per sample")
    if fmt.valid_bits and fmt.valid_bits > bits:
        raise AudioRejected("malformed_wav_header",
                            detail=f"{fmt.valid_bits} valid bits in {bits}-bit samples")
    expected = fmt.channels * bits // 8
    if fmt.block_align != expected:
        raise AudioRejected("malformed_wav_header", detail=(
            f"block align {fmt.block_align}, expected {expected} for {fmt.channels} × {bits} bits"
        ))
