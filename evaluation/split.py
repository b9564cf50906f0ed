"""The train/evaluation split of `../shared/data`, by speaker.

Every reader that trains a model (HiFi-GAN, the U-Net) and the evaluation harness decide with
these two functions, so a speaker held out for evaluation never reaches training.

Rule: a speaker is held out when the first byte of sha1(speaker id) is below 52 (≈ 20 %).
Files whose speaker cannot be told are their own speaker (the file stem).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # LibriSpeech: <speaker>-<chapter>-<utterance>
    (re.compile(r"(?:__|_|^)(\d+)-\d+-\d{4}"), "libri-{0}"),
    # VCTK: p225 ... p376 anywhere in the name
    (re.compile(r"(?<![0-9a-z])p(2\d\d|3\d\d)(?![0-9])"), "vctk-p{0}"),
    # LJSpeech is one speaker
    (re.compile(r"(LJ)\d{3}-\d{4}"), "ljspeech"),
    # CMU ARCTIC: cmu_arctic_us_<spk>_a0001
    (re.compile(r"cmu_arctic_us_([a-z]{3})_"), "arctic-{0}"),
)

HOLDOUT_THRESHOLD = 52  # of 256: about one speaker in five


def speaker_of(path: str | Path) -> str:
    """Speaker id of a recording from its file name; the file stem where unknown."""
    name = Path(path).name
    for pattern, template in _PATTERNS:
        match = pattern.search(name)
        if match:
            return template.format(*match.groups())
    return "file-" + Path(path).stem


def is_eval_speaker(path: str | Path) -> bool:
    """True when the recording's speaker is held out for evaluation (never trained on)."""
    digest = hashlib.sha1(speaker_of(path).encode()).digest()
    return digest[0] < HOLDOUT_THRESHOLD


def is_eval_file(path: str | Path) -> bool:
    """Same rule for noise and impulse-response files, keyed on the file name.

    Files in `pairs/` and `real_noisy/` are evaluation-only and never read for training.
    """
    digest = hashlib.sha1(Path(path).name.encode()).digest()
    return digest[0] < HOLDOUT_THRESHOLD * 2  # ≈ 40 %: few noise/RIR files, keep both sides fed
