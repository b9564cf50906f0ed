"""Training pairs for the U-Net: full-band 48 kHz speech and the same speech band-limited to 16 kHz.

Targets: `clean/` recordings at ≥ 44.1 kHz whose spectrum really reaches above 10 kHz (measured,
not trusted from the header), training speakers only (`shared.datasplit.is_eval_speaker`).
Inputs: the target low-passed by one of several filters and brought to 16 kHz, then interpolated
back to 48 kHz exactly as the `resample` engine does — the network sees what inference will see.
Kuleshov et al. note the model is very sensitive to how the low-rate input was made, and ours
comes from the enhancer, so every crop draws a filter family and random filter parameters.
Full-band data is scarce (≈ 4 min), hence many filter variants, random gain and polarity.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal as sps
import soundfile as sf
import soxr

from services.upsampler.engines import ResampleEngine
from shared.datasplit import is_eval_speaker

TARGET_RATE_HZ = 48000
LOW_RATE_HZ = 16000
FILTER_TYPES = ("soxr", "butterworth", "chebyshev", "mp3")
MIN_HIGH_BAND_DB = -45.0  # 10–20 kHz power relative to the whole spectrum


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
    """Full-band clean files of the training (or, with eval_speakers, the held-out) speakers."""
    files = sorted(p for p in (Path(data_dir) / "clean").iterdir() if p.is_file())
    return [p for p in files if is_eval_speaker(p) == eval_speakers and is_full_band(p)]


@dataclass(frozen=True)
class FilterParams:
    """How one band-limited input is made. cutoff_hz: −3 dB (IIR) or brick-wall (mp3) edge."""

    filter_type: str
    cutoff_hz: float = 7200.0
    order: int = 8
    ripple_db: float = 0.05
    soxr_quality: str = "VHQ"


# Fixed settings for evaluation: mid-range values of the training draws; chebyshev is what
# scipy.signal.decimate uses (order 8, 0.05 dB ripple, 0.8 × Nyquist).
EVAL_FILTERS: dict[str, FilterParams] = {
    "soxr": FilterParams("soxr"),
    "butterworth": FilterParams("butterworth", cutoff_hz=7200.0, order=8),
    "chebyshev": FilterParams("chebyshev", cutoff_hz=6400.0, order=8, ripple_db=0.05),
    "mp3": FilterParams("mp3", cutoff_hz=7250.0),
}


def random_filter(rng: np.random.Generator, filter_type: str | None = None) -> FilterParams:
    kind = filter_type or str(rng.choice(FILTER_TYPES))
    if kind == "soxr":
        return FilterParams(kind, soxr_quality=str(rng.choice(["HQ", "VHQ"])))
    if kind == "butterworth":
        return FilterParams(kind, cutoff_hz=rng.uniform(6500, 7800), order=int(rng.integers(4, 13)))
    if kind == "chebyshev":
        return FilterParams(
            kind,
            cutoff_hz=rng.uniform(6200, 7600),
            order=int(rng.integers(6, 11)),
            ripple_db=float(rng.uniform(0.05, 1.0)),
        )
    return FilterParams(kind, cutoff_hz=rng.uniform(7000, 7500))


def lowpass_48k(audio_48k: np.ndarray, params: FilterParams) -> np.ndarray:
    """The anti-alias step at 48 kHz (zero-phase, so input and target stay aligned)."""
    nyquist_hz = TARGET_RATE_HZ / 2
    if params.filter_type == "butterworth":
        sos = sps.butter(params.order, params.cutoff_hz / nyquist_hz, output="sos")
    elif params.filter_type == "chebyshev":
        sos = sps.cheby1(
            params.order, params.ripple_db, params.cutoff_hz / nyquist_hz, output="sos"
        )
    elif params.filter_type == "mp3":
        # MP3 encoders at low bit rates zero every band above ~7–7.5 kHz: a brick wall.
        spectrum = np.fft.rfft(audio_48k)
        freqs_hz = np.fft.rfftfreq(len(audio_48k), 1 / TARGET_RATE_HZ)
        spectrum[freqs_hz > params.cutoff_hz] = 0
        return np.fft.irfft(spectrum, n=len(audio_48k)).astype(np.float32)
    else:
        raise ValueError(f"no 48 kHz low-pass for filter type {params.filter_type!r}")
    return sps.sosfiltfilt(sos, audio_48k).astype(np.float32)


def degrade_to_16k(audio_48k: np.ndarray, params: FilterParams) -> np.ndarray:
    """48 kHz → 16 kHz through the given filter; IIR/mp3 paths decimate by plain subsampling
    (as scipy.signal.decimate does), so a shallow filter leaves some realistic aliasing."""
    if params.filter_type == "soxr":
        return soxr.resample(audio_48k, TARGET_RATE_HZ, LOW_RATE_HZ, quality=params.soxr_quality)
    factor = TARGET_RATE_HZ // LOW_RATE_HZ
    return np.ascontiguousarray(lowpass_48k(audio_48k, params)[::factor])


def interpolate_to_48k(audio_16k: np.ndarray) -> np.ndarray:
    """Exactly the `resample` engine's output: the network's input and the baseline."""
    return ResampleEngine().upsample(audio_16k, LOW_RATE_HZ, TARGET_RATE_HZ)


def make_pair(audio_48k: np.ndarray, params: FilterParams) -> tuple[np.ndarray, np.ndarray]:
    """(network input, target), both [T] float32 at 48 kHz, T a multiple of 3."""
    usable = len(audio_48k) - len(audio_48k) % 3
    target = audio_48k[:usable]
    return interpolate_to_48k(degrade_to_16k(target, params)), target


def build_bank(
    targets: list[np.ndarray], variants_per_type: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every target × filter type × random variant, precomputed once (cheap: a few minutes
    of audio), so the training loop only crops."""
    rng = np.random.default_rng(seed)
    bank = []
    for target in targets:
        for kind in FILTER_TYPES:
            for _ in range(variants_per_type):
                bank.append(make_pair(target, random_filter(rng, kind)))
    return bank


def random_crops(
    bank: list[tuple[np.ndarray, np.ndarray]],
    crop_length: int,
    seed: int,
    min_rms: float = 1e-3,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless (input [crop, 1], target [crop, 1]) crops, length-weighted over the bank, with
    random gain (−18…+3 dB re. the file level) and polarity; near-silent crops are redrawn."""
    rng = np.random.default_rng(seed)
    lengths = np.array([len(t) for _, t in bank], dtype=np.float64)
    weights = np.maximum(lengths - crop_length, 1) / np.maximum(lengths - crop_length, 1).sum()
    while True:
        inputs, target = bank[int(rng.choice(len(bank), p=weights))]
        if len(target) < crop_length:
            continue
        start = int(rng.integers(0, len(target) - crop_length + 1))
        x, y = inputs[start : start + crop_length], target[start : start + crop_length]
        if np.sqrt(np.mean(y**2)) < min_rms:
            continue
        gain = 10 ** (rng.uniform(-18, 3) / 20) * rng.choice([-1.0, 1.0])
        yield (x * gain)[:, None].astype(np.float32), (y * gain)[:, None].astype(np.float32)


def crop_dataset(bank, crop_length: int, batch_size: int, seed: int):
    """tf.data pipeline of random crop batches: ([B, crop, 1], [B, crop, 1])."""
    import tensorflow as tf

    spec = tf.TensorSpec(shape=(crop_length, 1), dtype=tf.float32)
    dataset = tf.data.Dataset.from_generator(
        lambda: random_crops(bank, crop_length, seed), output_signature=(spec, spec)
    )
    return dataset.batch(batch_size, drop_remainder=True).prefetch(2)
