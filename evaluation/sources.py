"""What the data directory offers the evaluation: eval-only files, speakers' genders, real pairs.

Only held-out material is used (shared/datasplit.py): clean speech of evaluation speakers, noise
and impulse-response files on the evaluation side of the file split (training never reads them),
and the real pairs and recordings in pairs/ and real_noisy/ (evaluation-only by rule).
"""

from __future__ import annotations

import csv
import functools
import os
import re
from pathlib import Path

import numpy as np

from evaluation.folder import AUDIO_SUFFIXES, load_mono_16k
from evaluation.items import EVAL_RATE_HZ, EvalItem, rt60_bucket, snr_bucket, voice_f0_bucket
from evaluation.metrics import snr_db
from shared.datasplit import is_eval_file, is_eval_speaker, speaker_of

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    """SPEAKUP_DATA_DIR, default ../shared/data beside the repository (as tests/conftest.py)."""
    return Path(os.environ.get("SPEAKUP_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


def audio_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)


def eval_clean_files(data_dir: Path) -> list[Path]:
    return [p for p in audio_files(data_dir / "clean") if is_eval_speaker(p)]


def eval_noise_files(data_dir: Path, min_files: int = 2) -> tuple[list[Path], bool]:
    """Noise files held out from training; all noise files only when fewer than `min_files` are
    held out (then the bool is False and the report says the noise was seen in training)."""
    files = audio_files(data_dir / "noise")
    held_out = [p for p in files if is_eval_file(p)]
    if len(held_out) >= min_files:
        return held_out, True
    return files, False


def eval_rir_files(data_dir: Path, min_duration_s: float = 0.25) -> list[Path]:
    """Held-out impulse responses, except truncated ones (a 0.1 s test fixture has no tail and
    its largest peak is not the direct path)."""
    import soundfile as sf

    return [
        p
        for p in audio_files(data_dir / "rir")
        if is_eval_file(p) and sf.info(str(p)).duration >= min_duration_s
    ]


@functools.cache
def _descriptions(data_dir: Path) -> dict[str, str]:
    table = data_dir / "SOURCES.tsv"
    if not table.is_file():
        return {}
    with table.open(newline="") as handle:
        return {
            row["file"]: row.get("description", "")
            for row in csv.DictReader(handle, delimiter="\t")
        }


def _gender_in(text: str) -> str | None:
    text = text.lower()
    if re.search(r"\bfemale\b|\bwoman\b", text):
        return "female"
    if re.search(r"\bmale\b|\bman\b", text):
        return "male"
    return None


@functools.cache
def _speaker_genders(data_dir: Path) -> dict[str, str]:
    """speaker id → gender where SOURCES.tsv says so for any of that speaker's files and never
    says otherwise (a speaker with conflicting descriptions stays unknown)."""
    seen: dict[str, set[str]] = {}
    for file, description in _descriptions(data_dir).items():
        gender = _gender_in(description)
        if gender:
            seen.setdefault(speaker_of(file), set()).add(gender)
    return {speaker: genders.pop() for speaker, genders in seen.items() if len(genders) == 1}


def gender_of(data_dir: Path, relative_path: str) -> str:
    """female / male / unknown, from the file's own description, else its speaker's."""
    own = _gender_in(_descriptions(data_dir).get(relative_path, ""))
    if own:
        return own
    return _speaker_genders(data_dir).get(speaker_of(relative_path), "unknown")


# ---- real pairs ---------------------------------------------------------------------------

_PAIR_KINDS = (  # stem prefix → (kind, reverb condition)
    ("dns2020_noreverb", "dns-noreverb", "none"),
    ("dns2020_reverb", "dns-reverb (reverberant reference)", "in reference"),
    ("vbelz", "librispeech+esc50 8 kHz", "none"),
    ("dfn", "freesound mix", "none"),
    ("vfdemo_derev", "voicefixer dereverb", "unknown"),
    ("vfdemo_enhan", "voicefixer denoise", "none"),
    ("lhotse", "simulated reverb", "unknown"),
)
_DEGRADED_TAGS = ("_noisy", "_reverb", "_degraded")


def _align_lag(clean: np.ndarray, degraded: np.ndarray, max_lag: int) -> int:
    """Lag (samples) of degraded behind clean, by cross-correlation within ±max_lag."""
    n = min(len(clean), len(degraded))
    size = 1 << int(np.ceil(np.log2(2 * n)))
    corr = np.fft.irfft(np.fft.rfft(degraded[:n], size) * np.conj(np.fft.rfft(clean[:n], size)))
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    values = np.concatenate([corr[: max_lag + 1], corr[-max_lag:]])
    return int(lags[int(np.argmax(values))])


def real_pairs(data_dir: Path, limit: int | None = None) -> list[EvalItem]:
    """The published degraded/clean pairs in pairs/, at 16 kHz, aligned by cross-correlation."""
    files = audio_files(data_dir / "pairs")
    items = []
    for clean_path in (p for p in files if p.stem.endswith("_clean")):
        prefix = clean_path.stem[: -len("_clean")]
        twins = [
            p
            for p in files
            if p.stem.startswith(prefix + "_")
            and p != clean_path
            and any(tag in p.stem[len(prefix) :] for tag in _DEGRADED_TAGS)
        ]
        if not twins:
            continue
        clean, degraded = load_mono_16k(clean_path), load_mono_16k(twins[0])
        lag = _align_lag(clean, degraded, max_lag=int(0.1 * EVAL_RATE_HZ))
        if lag > 0:
            degraded = degraded[lag:]
        elif lag < 0:
            clean = clean[-lag:]
        n = min(len(clean), len(degraded))
        clean, degraded = clean[:n], degraded[:n]
        kind, reverb = next(
            ((k, r) for stem, k, r in _PAIR_KINDS if prefix.startswith(stem)), ("other", "unknown")
        )
        items.append(
            EvalItem(
                item_id=f"pairs/{prefix}",
                set_name="pairs",
                noisy=degraded,
                clean=clean,
                conditions={
                    "snr": snr_bucket(snr_db(clean, degraded)),
                    "reverb": reverb if reverb != "unknown" else rt60_bucket(None),
                    "device": "unknown",
                    "gender": gender_of(data_dir, f"pairs/{clean_path.name}"),
                    "voice_f0": voice_f0_bucket(clean),
                    "kind": kind,
                    "source": twins[0].name,
                    "input_snr_db": f"{snr_db(clean, degraded):.1f}",
                    "alignment_lag_samples": str(lag),
                },
            )
        )
        if limit is not None and len(items) >= limit:
            break
    return items


def real_recordings(
    data_dir: Path, max_duration_s: float | None = 30.0, limit: int | None = None
) -> list[EvalItem]:
    """Real degraded speech without a reference (real_noisy/), reference-free metrics only.
    Long files are cut to their first `max_duration_s` so one 3-minute file does not dominate."""
    items = []
    for path in audio_files(data_dir / "real_noisy")[:limit]:
        audio = load_mono_16k(path)
        conditions = {
            "kind": "real",
            "source": path.name,
            "gender": gender_of(data_dir, f"real_noisy/{path.name}"),
        }
        if max_duration_s is not None and len(audio) > max_duration_s * EVAL_RATE_HZ:
            audio = audio[: int(max_duration_s * EVAL_RATE_HZ)]
            conditions["cropped_to_s"] = f"{max_duration_s:g}"
        items.append(EvalItem(f"real/{path.stem}", "real", audio, None, conditions))
    return items
