"""The train/evaluation split of the recordings, by speaker.

Every reader that trains a model (HiFi-GAN, ErbNet, the U-Net) and the evaluation harness decide
with these functions, so a speaker held out for evaluation never reaches training. It lives in
shared/ because both sides need it and services never import evaluation/. Pure: no numpy.

Rule: a speaker is held out when the first byte of sha1(speaker id) is below 52 (≈ 20 %).
Files whose speaker cannot be told are their own speaker (the file stem).

RAVDESS is the exception: its 24 actors are a closed set whose sex is known (odd ids male, even
female), and the plain rule happens to hold out four men and no woman. So within each sex the
actors with the lowest hashes are held out, the same ≈ 20 % of each (two women, two men).
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # RAVDESS (fullband_ravdess/): ravdess__Actor_NN__03-01-...-NN.flac
    (re.compile(r"^ravdess__Actor_(\d\d)__"), "ravdess-{0}"),
    # Fish Fillets NG voices, named by the corpus builder (services/enhancer/data/corpus.py):
    # fillets-<language>__<character>__<level>__<line>.flac, one actor per character and language
    (re.compile(r"^fillets-([a-z]{2})__([a-z0-9]+)__"), "fillets-{0}-{1}"),
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
RAVDESS_ACTORS = range(1, 25)


def _first_byte(key: str) -> int:
    return hashlib.sha1(key.encode()).digest()[0]


def speaker_of(path: str | Path) -> str:
    """Speaker id of a recording from its file name; "file-<stem>" where unknown."""
    name = Path(path).name
    for pattern, template in _PATTERNS:
        match = pattern.search(name)
        if match:
            return template.format(*match.groups())
    return "file-" + Path(path).stem


@functools.cache
def ravdess_eval_actors() -> tuple[int, ...]:
    """The held-out RAVDESS actors: per sex, the lowest sha1 of "ravdess-NN", ≈ 20 % of each."""
    held_out: list[int] = []
    for parity in (1, 0):  # men, women
        actors = [a for a in RAVDESS_ACTORS if a % 2 == parity]
        ranked = sorted(actors, key=lambda a: hashlib.sha1(f"ravdess-{a:02d}".encode()).digest())
        held_out += ranked[: round(len(actors) * HOLDOUT_THRESHOLD / 256)]
    return tuple(sorted(held_out))


def is_eval_speaker(path: str | Path) -> bool:
    """True when the recording's speaker is held out for evaluation (never trained on)."""
    speaker = speaker_of(path)
    if speaker.startswith("ravdess-"):
        return int(speaker.removeprefix("ravdess-")) in ravdess_eval_actors()
    return _first_byte(speaker) < HOLDOUT_THRESHOLD


def is_eval_file(path: str | Path) -> bool:
    """Same rule for noise and impulse-response files, keyed on the file name.

    Files in `pairs/` and `real_noisy/` are evaluation-only and never read for training.
    """
    return _first_byte(Path(path).name) < HOLDOUT_THRESHOLD * 2  # ≈ 40 %: keep both sides fed
