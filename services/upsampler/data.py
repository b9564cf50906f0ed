"""Training examples for the U-Net: full-band 48 kHz speech, the same speech band-limited the
ways phones, resamplers and codecs do it (services/upsampler/inputs.py), and the cutoff the
chain would measure on that input.

Targets: full-band recordings (≥ 44.1 kHz, spectrum measured to really reach above 10 kHz) of
`clean/` and `fullband_ravdess/` (27.6 min of 48 kHz speech from 24 actors, about 6× what
`clean/` holds), training speakers only (`shared.datasplit.is_eval_speaker`; RAVDESS holds out
four actors). Each example is made on the fly: a random file (weighted by length), a random
`InputSpec`, the input and its measured cutoff, then a few random crops with random gain and
polarity — every crop of a long run sees a fresh degradation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.signal as sps
import soundfile as sf
import soxr

from services.upsampler import inputs
from shared.datasplit import is_eval_speaker

TARGET_RATE_HZ = inputs.TARGET_RATE_HZ
SPEECH_FOLDERS = ("clean", "fullband_ravdess")
MIN_HIGH_BAND_DB = -45.0  # 10–20 kHz power relative to the whole spectrum
MAX_SEGMENT_S = 6.0  # longer files are degraded a random stretch at a time
CUTOFF_JITTER = 0.03  # the chain's estimate of the cutoff will not be the training one exactly


def read_full_band(path: str | Path) -> np.ndarray:
    """Mono float32 at 48 kHz (44.1 kHz files resampled with soxr VHQ)."""
    audio, rate_hz = sf.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate_hz != TARGET_RATE_HZ:
        audio = soxr.resample(audio, rate_hz, TARGET_RATE_HZ, quality="VHQ")
    return np.ascontiguousarray(audio, dtype=np.float32)


def band_power_db(audio: np.ndarray, sample_rate_hz: int, low_hz: float, high_hz: float) -> float:
    """Power in [low_hz, high_hz) relative to the power above 50 Hz, in dB (Welch)."""
    freqs_hz, power = sps.welch(audio, sample_rate_hz, nperseg=2048)
    total = power[freqs_hz > 50].sum() + 1e-20
    band = power[(freqs_hz >= low_hz) & (freqs_hz < high_hz)].sum()
    return float(10 * np.log10(band / total + 1e-20))


def is_full_band(path: str | Path) -> bool:
    """≥ 44.1 kHz file whose 10–20 kHz band holds real energy (not upsampled narrow-band audio)."""
    info = sf.info(str(path))
    if info.samplerate < 44100:
        return False
    audio, rate_hz = sf.read(str(path), dtype="float32", always_2d=True)
    return band_power_db(audio.mean(axis=1), rate_hz, 10000, 20000) >= MIN_HIGH_BAND_DB


def full_band_files(data_dir: str | Path, eval_speakers: bool) -> list[Path]:
    """Full-band speech files of the training (or, with eval_speakers, the held-out) speakers,
    `clean/` first, then `fullband_ravdess/` (folders that are absent are skipped)."""
    found = []
    for folder in SPEECH_FOLDERS:
        root = Path(data_dir) / folder
        if root.is_dir():
            found += sorted(p for p in root.iterdir() if p.is_file())
    return [p for p in found if is_eval_speaker(p) == eval_speakers and is_full_band(p)]


def relative_name(path: Path, data_dir: str | Path) -> str:
    """`clean/x.wav`: how run states and cards name a file, so the data dir may move."""
    return path.relative_to(Path(data_dir)).as_posix()


def make_example(
    target: np.ndarray, spec: inputs.InputSpec
) -> tuple[np.ndarray, np.ndarray, float]:
    """(input [T], target [T], measured cutoff Hz); T a multiple of 3, both at 48 kHz."""
    target = target[: len(target) - len(target) % 3]
    made = inputs.make_input(target, spec)
    return made, target, inputs.measure_cutoff_hz(made)


def examples(
    targets: list[np.ndarray],
    crop_length: int,
    seed: int,
    crops_per_input: int = 2,
    min_rms: float = 1e-3,
    kind: str | None = None,
) -> Iterator[tuple[np.ndarray, float, np.ndarray, float]]:
    """Endless (input [crop, 1], conditioning cutoff Hz, target [crop, 1], measured cutoff Hz).

    The conditioning cutoff is the measured one × (1 ± `CUTOFF_JITTER`); the loss uses the
    measured one. Gain −18…+3 dB re. the file level, random polarity; near-silent crops are
    skipped."""
    rng = np.random.default_rng(seed)
    usable = [t for t in targets if len(t) >= crop_length]
    if not usable:
        raise ValueError(f"no training file is as long as one crop ({crop_length} samples)")
    lengths = np.array([len(t) for t in usable], dtype=np.float64)
    segment = int(MAX_SEGMENT_S * TARGET_RATE_HZ)
    while True:
        target = usable[int(rng.choice(len(usable), p=lengths / lengths.sum()))]
        if len(target) > segment:
            start = int(rng.integers(0, len(target) - segment + 1))
            target = target[start : start + segment]
        x_full, y_full, cutoff_hz = make_example(target, inputs.random_spec(rng, kind))
        for _ in range(crops_per_input):
            start = int(rng.integers(0, len(y_full) - crop_length + 1))
            x, y = x_full[start : start + crop_length], y_full[start : start + crop_length]
            if np.sqrt(np.mean(y**2)) < min_rms:
                continue
            gain = 10 ** (rng.uniform(-18, 3) / 20) * rng.choice([-1.0, 1.0])
            jitter = rng.uniform(1 - CUTOFF_JITTER, 1 + CUTOFF_JITTER)
            yield (
                (x * gain)[:, None].astype(np.float32),
                cutoff_hz * jitter,
                (y * gain)[:, None].astype(np.float32),
                cutoff_hz,
            )


def fixed_examples(targets: list[np.ndarray], crop_length: int, count: int, seed: int):
    """`count` examples from a fixed seed, stacked: (x [N, crop, 1], conditioning [N, 1],
    y [N, crop, 1], measured cutoff [N]) — the validation set."""
    stream = examples(targets, crop_length, seed)
    rows = [next(stream) for _ in range(count)]
    x, c, y, m = zip(*rows, strict=True)
    return (np.stack(x), np.array(c, np.float32)[:, None], np.stack(y),
            np.array(m, np.float32))


def crop_dataset(
    targets: list[np.ndarray], crop_length: int, batch_size: int, seed: int, workers: int = 2
):
    """tf.data of batches ((audio [B, crop, 1], conditioning cutoff Hz [B, 1]),
    target [B, crop, 1], measured cutoff Hz [B]); `workers` generators, each with its own
    seed, run in parallel (the codecs dominate the cost: ≈ 17 ms a crop on one core)."""
    import tensorflow as tf

    audio_spec = tf.TensorSpec(shape=(crop_length, 1), dtype=tf.float32)
    scalar = tf.TensorSpec(shape=(), dtype=tf.float32)

    def generator(worker):
        for x, c, y, m in examples(targets, crop_length, seed * 1000 + int(worker)):
            yield x, np.float32(c), y, np.float32(m)

    def one(worker):
        return tf.data.Dataset.from_generator(
            generator, args=(worker,), output_signature=(audio_spec, scalar, audio_spec, scalar)
        )

    dataset = tf.data.Dataset.range(max(workers, 1)).interleave(
        one, cycle_length=max(workers, 1), num_parallel_calls=max(workers, 1)
    )
    dataset = dataset.shuffle(64, seed=seed).map(
        lambda x, c, y, m: ((x, c[None]), y, m)
    )
    return dataset.batch(batch_size, drop_remainder=True).prefetch(2)
