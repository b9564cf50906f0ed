"""Read audio of any format, and any folder laid out for evaluation.

Layout of `--data DIR` (either part may be missing):
    DIR/noisy/<name>.wav + DIR/clean/<name>.wav  same names → paired metrics (set "paired")
    DIR/real/<anything>                          no reference → reference-free (set "real")
A noisy file without a clean twin is evaluated reference-free too, never silently dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluation.items import EVAL_RATE_HZ, EvalItem
from evaluation.metrics import resample

AUDIO_SUFFIXES = {
    ".wav",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".mp3",
    ".m4a",
    ".aac",
    ".mp4",
    ".mov",
    ".webm",
    ".mkv",
    ".aif",
    ".aiff",
    ".wma",
    ".amr",
    ".3gp",
    ".caf",
}


def load_audio(path: str | Path, mono: bool = True) -> tuple[np.ndarray, int]:
    """Decode a file → (audio float32, rate). mono: [T] (channel mean); else [C, T].

    soundfile (libsndfile) first for WAV/FLAC/OGG; PyAV (FFmpeg) for compressed and video
    containers (m4a, mp3, webm/opus, mp4 audio tracks)."""
    import soundfile as sf

    try:
        data, rate_hz = sf.read(str(path), dtype="float32", always_2d=True)
        channels_first = data.T
    except (sf.LibsndfileError, RuntimeError, TypeError):
        channels_first, rate_hz = _decode_with_av(Path(path))
    if channels_first.size == 0:
        raise ValueError(f"{path}: no audio samples")
    if mono:
        return channels_first.mean(axis=0).astype(np.float32), int(rate_hz)
    return channels_first.astype(np.float32), int(rate_hz)


def _decode_with_av(path: Path) -> tuple[np.ndarray, int]:
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError(f"{path}: no audio stream")
        stream = container.streams.audio[0]
        rate_hz = stream.rate or stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate_hz)
        chunks = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    if not chunks:
        raise ValueError(f"{path}: decoded no audio")
    return np.concatenate(chunks, axis=1).astype(np.float32), int(rate_hz)


def load_mono_16k(path: str | Path, max_duration_s: float | None = None) -> np.ndarray:
    """Decode, downmix, resample to the enhancer's 16 kHz, optionally keep only the start."""
    audio, rate_hz = load_audio(path)
    audio = resample(audio, rate_hz, EVAL_RATE_HZ)
    if max_duration_s is not None:
        audio = audio[: int(max_duration_s * EVAL_RATE_HZ)]
    return audio


def _audio_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".")
    )


def read_folder(
    root: str | Path, max_real_duration_s: float | None = None, set_prefix: str = ""
) -> list[EvalItem]:
    """Items of an evaluation folder (see module doc); sorted by name, so runs are repeatable."""
    root = Path(root)
    items: list[EvalItem] = []
    clean_by_stem = {p.stem: p for p in _audio_files(root / "clean")}
    for noisy_path in _audio_files(root / "noisy"):
        noisy = load_mono_16k(noisy_path)
        clean_path = clean_by_stem.get(noisy_path.stem)
        if clean_path is None:
            items.append(_real_item(noisy_path, noisy, set_prefix + "real", max_real_duration_s))
            continue
        clean = load_mono_16k(clean_path)
        n = min(len(noisy), len(clean))
        items.append(
            EvalItem(
                item_id=f"{set_prefix}paired/{noisy_path.stem}",
                set_name=set_prefix + "paired",
                noisy=noisy[:n],
                clean=clean[:n],
                conditions={"kind": "folder pair", "source": str(noisy_path.name)},
            )
        )
    for real_path in _audio_files(root / "real"):
        try:
            audio = load_mono_16k(real_path)
        except (ValueError, OSError) as exc:  # e.g. a video without sound: say so, keep going
            print(f"skipping {real_path}: {exc}")
            continue
        items.append(_real_item(real_path, audio, set_prefix + "real", max_real_duration_s))
    if not items:
        raise FileNotFoundError(f"{root}: found no noisy/ + clean/ pairs nor real/ recordings")
    return items


def _real_item(
    path: Path, audio: np.ndarray, set_name: str, max_duration_s: float | None
) -> EvalItem:
    conditions = {"kind": "folder recording", "source": path.name}
    if max_duration_s is not None and len(audio) > max_duration_s * EVAL_RATE_HZ:
        audio = audio[: int(max_duration_s * EVAL_RATE_HZ)]
        conditions["cropped_to_s"] = f"{max_duration_s:g}"
    return EvalItem(
        item_id=f"{set_name}/{path.stem}",
        set_name=set_name,
        noisy=audio,
        clean=None,
        conditions=conditions,
    )
