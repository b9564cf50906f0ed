"""Room impulse responses for the evaluation set: measured files and simulated shoebox rooms.

Every RIR is aligned on its direct path (its largest peak moved to sample 0) and scaled so that
peak is 1: convolving clean speech with it leaves the direct sound exactly where and as loud as
the clean reference, so the reference is never delayed and reverberation is all that differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.folder import load_audio
from evaluation.metrics import resample


@dataclass(frozen=True)
class RoomResponse:
    """rir: [T] float32 at `sample_rate_hz`, direct path at index 0 with value 1."""

    rir_id: str
    kind: str  # "measured" or "simulated"
    rir: np.ndarray
    sample_rate_hz: int
    rt60_s: float  # estimated from the response itself (Schroeder decay)
    target_rt60_s: float | None = None  # the simulated room's design RT60


def align_direct_path(rir: np.ndarray) -> np.ndarray:
    """Drop everything before the largest peak and scale that peak to +1 (sign kept positive,
    so the direct sound keeps its polarity in the convolved speech)."""
    rir = np.asarray(rir, dtype=np.float64).reshape(-1)
    peak = int(np.argmax(np.abs(rir)))
    aligned = rir[peak:] / rir[peak]
    return aligned.astype(np.float32)


def estimate_rt60_s(rir: np.ndarray, sample_rate_hz: int) -> float:
    """RT60 from Schroeder backward integration: the -5..-25 dB slope (T20) extrapolated to
    60 dB; falls back to -5..-15 dB (T10) for short or noisy responses. NaN when neither fits."""
    energy = np.asarray(rir, dtype=np.float64) ** 2
    decay = np.cumsum(energy[::-1])[::-1]
    if decay[0] <= 0:
        return math.nan
    decay_db = 10 * np.log10(np.maximum(decay / decay[0], 1e-30))
    for low_db, high_db in ((-5.0, -25.0), (-5.0, -15.0)):
        region = np.nonzero((decay_db <= low_db) & (decay_db >= high_db))[0]
        if len(region) >= 8:
            times_s = region / sample_rate_hz
            slope_db_per_s = np.polyfit(times_s, decay_db[region], 1)[0]
            if slope_db_per_s < 0:
                return float(-60.0 / slope_db_per_s)
    return math.nan


def load_measured(path: Path, sample_rate_hz: int) -> RoomResponse:
    """A measured RIR file: first channel, resampled, aligned on the direct path."""
    audio, rate_hz = load_audio(path, mono=False)
    first_channel = audio[0] if audio.ndim == 2 else audio
    rir = align_direct_path(resample(first_channel, rate_hz, sample_rate_hz))
    # the tail below -80 dB carries nothing audible and only costs convolution time
    energy = np.cumsum(rir[::-1].astype(np.float64) ** 2)[::-1]
    keep = int(np.searchsorted(-energy, -energy[0] * 1e-8)) + 1
    rir = rir[: max(keep, 16)]
    return RoomResponse(
        rir_id=f"measured:{path.name}",
        kind="measured",
        rir=rir,
        sample_rate_hz=sample_rate_hz,
        rt60_s=estimate_rt60_s(rir, sample_rate_hz),
    )


def simulate(rt60_s: float, seed: int, sample_rate_hz: int) -> RoomResponse:
    """A shoebox room (pyroomacoustics image source model) designed for `rt60_s` with Sabine's
    formula; room size and positions drawn from `seed`, the talker 0.5-2 m from the microphone
    (a phone or laptop on a table, not a lectern microphone)."""
    import pyroomacoustics as pra

    rng = np.random.default_rng([seed, int(round(rt60_s * 1000))])
    room_dim_m = np.array([rng.uniform(4, 9), rng.uniform(3, 7), rng.uniform(2.5, 3.5)])
    absorption, max_order = pra.inverse_sabine(rt60_s, room_dim_m)
    room = pra.ShoeBox(
        room_dim_m, fs=sample_rate_hz, materials=pra.Material(absorption), max_order=max_order
    )
    margin_m = 0.6
    mic_m = np.array([rng.uniform(margin_m, d - margin_m) for d in room_dim_m[:2]] + [1.2])
    for _ in range(100):
        distance_m = rng.uniform(0.5, 2.0)
        angle = rng.uniform(0, 2 * np.pi)
        source_m = mic_m + np.array([distance_m * np.cos(angle), distance_m * np.sin(angle), 0.4])
        if np.all(source_m[:2] > margin_m) and np.all(source_m[:2] < room_dim_m[:2] - margin_m):
            break
    else:  # a tiny room: put the source in the middle
        source_m = np.concatenate([room_dim_m[:2] / 2, [1.6]])
    room.add_source(source_m.tolist())
    room.add_microphone(mic_m.tolist())
    room.compute_rir()
    rir = align_direct_path(np.asarray(room.rir[0][0]))
    return RoomResponse(
        rir_id=f"simulated:rt60={rt60_s:.1f}:seed={seed}",
        kind="simulated",
        rir=rir,
        sample_rate_hz=sample_rate_hz,
        rt60_s=estimate_rt60_s(rir, sample_rate_hz),
        target_rt60_s=rt60_s,
    )


def reverberate(speech: np.ndarray, room: RoomResponse) -> np.ndarray:
    """speech ⊛ rir, cut to the speech's length (the direct path stays at lag 0)."""
    from scipy.signal import fftconvolve

    out = fftconvolve(np.asarray(speech, dtype=np.float64), room.rir.astype(np.float64))
    return out[: len(speech)].astype(np.float32)
