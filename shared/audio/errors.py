"""Why an input was rejected: a stable machine-readable code and a message a person can act on.

The codes are part of the public API (job ``error.code``); never rename one. The table with the
meaning of each code is in `shared.audio.decode`'s docstring.
"""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    "empty_file": "The uploaded file is empty. Upload the recording again.",
    "file_too_large": "The file is larger than this service accepts. Upload a shorter or more "
    "compressed recording.",
    "not_audio": "This file is not an audio or video recording we can read. Upload a common "
    "audio or video file (m4a, mp3, wav, flac, ogg, opus, webm, mp4, mov).",
    "no_audio_stream": "The file has no audio track. Upload a recording with sound.",
    "too_many_streams": "The file has an unusually large number of tracks. Export the recording "
    "with a single audio track and upload it again.",
    "too_many_channels": "The recording has more audio channels than we support. Export it as "
    "mono or stereo and upload it again.",
    "unsupported_sample_rate": "The recording's sample rate is outside the range we support "
    "(8 kHz to 192 kHz). Export it at a standard rate such as 44.1 or 48 kHz.",
    "too_long": "The recording is longer than the maximum allowed length. Split it into shorter "
    "parts and upload them separately.",
    "too_short": "The recording is too short to process. Upload at least a second of speech.",
    "decode_timeout": "Reading the file took too long. It may be damaged; try exporting it again.",
    "corrupt_audio": "The audio in this file is damaged and could not be read. Try exporting or "
    "recording it again.",
    "invalid_samples": "The file contains invalid sample values (not-a-number, infinite or far "
    "beyond full scale). Export it again from your recording software.",
    "silent_audio": "The recording is completely silent. Check that the microphone was on and "
    "upload a recording with sound.",
    "unsupported_bit_depth": "The WAV file claims a bit depth no recorder writes (PCM must be 8, "
    "16, 24 or 32 bits; float 32 or 64), so its samples cannot be read. Export it again as a 16- "
    "or 24-bit WAV.",
    "malformed_wav_header": "The WAV file's header contradicts itself (its block size does not "
    "match its channels and bit depth), so its samples cannot be read. Export it again from your "
    "recording software.",
}


class AudioRejected(Exception):
    """The input cannot be processed. Retrying will not help: the job fails with ``code``."""

    def __init__(self, code: str, message: str | None = None, *, detail: str = "") -> None:
        if code not in MESSAGES:
            raise ValueError(f"unknown rejection code {code!r}")
        self.code = code
        self.message = message or MESSAGES[code]
        # For logs and tests only (what exactly tripped); never shown to users.
        self.detail = detail
        super().__init__(f"{code}: {self.message}" + (f" ({detail})" if detail else ""))
