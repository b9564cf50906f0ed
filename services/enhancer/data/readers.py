"""Dataset readers: DAPS, ACE Challenge noise, REVERB Challenge RIRs, and plain folders.

Readers return file lists only (cheap); `load_audio` decodes and resamples. Training callers
filter with shared/datasplit.py so held-out speakers and files never reach a model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from shared.datasplit import is_eval_file, is_eval_speaker

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
# Folders of the plain layout (../shared/data) that are evaluation-only.
EVAL_ONLY_FOLDERS = ("pairs", "real_noisy")


def load_audio(path: str | Path, sample_rate_hz: int, first_channel_only: bool = False
               ) -> np.ndarray:
    """Decode → mono (mean of channels, or channel 0 for impulse responses) → float32 at rate."""
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = audio[:, 0] if first_channel_only else audio.mean(axis=1)
    if rate != sample_rate_hz:
        mono = soxr.resample(mono, rate, sample_rate_hz, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _audio_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


# ---- plain folders: <root>/clean, <root>/noise, <root>/rir ---------------------------------

# Folders of clean speech, in reading order: ../shared/data keeps RAVDESS beside clean/.
CLEAN_FOLDERS = ("clean", "fullband_ravdess")


@dataclass(frozen=True)
class PlainFolders:
    """A plain tree (../shared/data, or a corpus built by `make data`): clean/ and
    fullband_ravdess/ speech, babble/ background speech, noise/, rir/; audio files at any
    depth below each."""

    root: Path

    def clean(self, split: str) -> list[Path]:
        """split: "train" (training speakers) or "eval" (held-out speakers)."""
        want_eval = split == "eval"
        return [p for folder in CLEAN_FOLDERS for p in _audio_files(self.root / folder)
                if is_eval_speaker(p) == want_eval]

    def babble(self, split: str) -> list[Path]:
        """babble/: speech heard behind the speaker, never a target (e.g. game dialogue whose
        own background is audible); split by speaker like clean/."""
        want_eval = split == "eval"
        return [p for p in _audio_files(self.root / "babble") if is_eval_speaker(p) == want_eval]

    def noise(self, split: str) -> list[Path]:
        want_eval = split == "eval"
        return [p for p in _audio_files(self.root / "noise") if is_eval_file(p) == want_eval]

    def rirs(self, split: str) -> list[Path]:
        want_eval = split == "eval"
        return [p for p in _audio_files(self.root / "rir") if is_eval_file(p) == want_eval]


# ---- DAPS (Mysore 2015): clean/<spk>_<script>_clean.wav, <device>_<room>/<spk>_<script>_... --

_DAPS_NAME = re.compile(r"^([fm]\d+)_(script\d+)_(.+)\.wav$")


@dataclass(frozen=True)
class DapsPair:
    speaker: str
    script: str
    condition: str  # e.g. "ipad_livingroom1"
    degraded: Path
    clean: Path


def daps_pairs(root: str | Path, split: str | None = None) -> list[DapsPair]:
    """Device/room recordings paired with their studio `clean/` take.

    `split` "train"/"eval" keeps speakers by shared/datasplit.py (keyed "daps-<speaker>").
    """
    root = Path(root)
    clean = {}
    for path in _audio_files(root / "clean"):
        match = _DAPS_NAME.match(path.name)
        if match and match.group(3) == "clean":
            clean[(match.group(1), match.group(2))] = path
    pairs = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "clean"):
        for path in _audio_files(folder):
            match = _DAPS_NAME.match(path.name)
            if not match or match.group(3) != folder.name:
                continue
            key = (match.group(1), match.group(2))
            if key in clean:
                pairs.append(DapsPair(key[0], key[1], folder.name, path, clean[key]))
    if split is not None:
        want_eval = split == "eval"
        pairs = [p for p in pairs if is_eval_speaker(f"daps-{p.speaker}") == want_eval]
    return pairs


# ---- ACE Challenge corpus: Single/<Room>/<Pos>/Single_<id>_<pos>_{RIR,Ambient,Babble,Fan}.wav

ACE_NOISE_KINDS = ("Ambient", "Babble", "Fan")


def ace_noise(root: str | Path, split: str | None = None) -> list[Path]:
    """ACE noise recordings (ambient, babble, fan), any microphone configuration."""
    files = [p for p in _audio_files(Path(root))
             if p.stem.rsplit("_", 1)[-1] in ACE_NOISE_KINDS]
    return _split_files(files, split)


def ace_rirs(root: str | Path, split: str | None = None) -> list[Path]:
    files = [p for p in _audio_files(Path(root)) if p.stem.endswith("_RIR")]
    return _split_files(files, split)


# ---- REVERB Challenge: RIR/RIR_<Room>_<near|far>_<Angl>.wav, NOISE/Noise_<Room>_<n>.wav ----

_REVERB_RIR = re.compile(r"^RIR_(Small|Medium|Large)Room\d_(near|far)_Angl[AB]\.wav$")


def reverb_rirs(root: str | Path, split: str | None = None) -> list[Path]:
    """REVERB Challenge measured RIRs (8 channels; load with first_channel_only=True)."""
    files = [p for p in _audio_files(Path(root)) if _REVERB_RIR.match(p.name)]
    return _split_files(files, split)


def reverb_noise(root: str | Path, split: str | None = None) -> list[Path]:
    files = [p for p in _audio_files(Path(root)) if p.name.startswith("Noise_")]
    return _split_files(files, split)


def _split_files(files: list[Path], split: str | None) -> list[Path]:
    if split is None:
        return files
    want_eval = split == "eval"
    return [p for p in files if is_eval_file(p) == want_eval]
