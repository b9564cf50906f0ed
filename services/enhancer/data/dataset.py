"""Training and validation batches: clean speech in RAM, degraded on the fly.

Training reads only training speakers/files (shared/datasplit.py), never pairs/ or
real_noisy/. A few training-speaker files are held back for validation, which is degraded once
with a fixed seed, so every validation pass sees the same inputs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import signal
from scipy.signal import fftconvolve

from services.enhancer.data import degrade
from services.enhancer.data.readers import PlainFolders, load_audio
from services.enhancer.model.config import TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DegradeSettings:
    """Ranges and probabilities of every degradation."""

    snr_db: tuple[float, float] = (5.0, 35.0)
    drr_db: tuple[float, float] = (-6.0, 18.0)
    gain_db: tuple[float, float] = (-25.0, 0.0)
    speech_level_dbfs: tuple[float, float] | None = None  # where set, used instead of gain_db
    reverb_probability: float = 0.6
    simulated_rir_probability: float = 0.5
    noise_probability: float = 0.9
    eq_probability: float = 0.6
    band_limit_probability: float = 0.25
    clip_probability: float = 0.1
    babble_probability: float = 0.15  # other people talking, 5–25 dB below the speaker
    babble_snr_db: tuple[float, float] = (5.0, 25.0)
    codec_probability: float = 0.15  # a phone codec at a low bitrate (degrade.CODECS)
    # Examples left as they were recorded (only the speaker's gain, and a faint noise floor
    # half the time): without them a clean input was almost never seen, and ErbNet at step
    # 11,500 rewrote clean speech to 15 dB SI-SDR — a ceiling on every clean-ish recording.
    clean_probability: float = 0.08
    clean_floor_snr_db: tuple[float, float] = (35.0, 60.0)
    # The device's linear colouration (its EQ and high-pass, a band limit) in the target too,
    # so the target asks only for what a network of gains ≤ 1 can do: remove noise and reverb.
    # Without it ErbNet (step 22,000) saw 60 % of its targets brighter than their inputs,
    # pushed its upper-band gains to 1 and left real noise there untouched.
    colour_in_target: bool = False


def degrade_settings(train: TrainConfig) -> DegradeSettings:
    """The degradations a family's TrainConfig asks for (training and validation alike)."""
    return DegradeSettings(snr_db=train.snr_db, drr_db=train.drr_db, gain_db=train.gain_db,
                           speech_level_dbfs=train.speech_level_dbfs,
                           colour_in_target=train.colour_in_target)


def is_validation_file(path: str | Path) -> bool:
    """≈6 % of the training-speaker files, held back to pick checkpoints on."""
    return hashlib.sha1(Path(path).name.encode()).digest()[1] < 16


class Degrader:
    """clean segment → (degraded input, target), both float32 [T]."""

    def __init__(self, settings: DegradeSettings, sample_rate_hz: int,
                 noises: list[np.ndarray], rirs: list[np.ndarray],
                 babble: list[np.ndarray] | None = None) -> None:
        self.settings = settings
        self.sample_rate_hz = sample_rate_hz
        self.noises = noises
        self.babble = babble or []  # speech to talk over the speaker (never the target)
        self.rirs = [degrade.align_on_direct_path(r) for r in rirs]
        self.simulated: list[np.ndarray] = []

    def add_simulated_rirs(self, count: int, rng: np.random.Generator) -> None:
        for _ in range(count):
            rir = degrade.align_on_direct_path(degrade.simulate_rir(rng, self.sample_rate_hz))
            self.simulated.append(rir)

    def __call__(self, clean: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
        s, n = self.settings, len(clean)
        if s.speech_level_dbfs is not None:
            rms = float(np.sqrt(np.mean(np.square(clean, dtype=np.float64))))
            target = clean * (10 ** (rng.uniform(*s.speech_level_dbfs) / 20.0) / max(rms, 1e-9))
        else:
            target = clean * 10 ** (degrade.random_gain_db(rng, s.gain_db) / 20.0)
        x = target
        if rng.random() < s.clean_probability:
            if rng.random() < 0.5:
                x = degrade.mix_at_snr(x, degrade.coloured_noise(n, 1.0, rng),
                                       rng.uniform(*s.clean_floor_snr_db))
        else:
            x, colouration = self._degrade(x, rng)
            if s.colour_in_target and colouration:
                target = signal.sosfilt(np.concatenate(colouration), target)
        # Keep both inside [-1, 1] with the same scale, so the mapping stays level-preserving.
        peak = max(float(np.max(np.abs(x))), float(np.max(np.abs(target))), 1e-9)
        scale = min(1.0, 0.99 / peak)
        return (x * scale).astype(np.float32), (target * scale).astype(np.float32)

    def _degrade(self, x: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, list[np.ndarray]]:
        """→ (degraded, the linear filters it went through: second-order sections)."""
        s, sr, n = self.settings, self.sample_rate_hz, len(x)
        colouration = []
        if rng.random() < s.reverb_probability:
            x = self._reverberate(x, rng)
        if rng.random() < s.eq_probability:
            colouration.append(degrade.device_eq_sos(sr, rng))
            x = signal.sosfilt(colouration[-1], x).astype(np.float32)
        if self.babble and rng.random() < s.babble_probability:
            talkers = degrade.babble(self.babble, n, rng, int(rng.integers(1, 4)))
            x = degrade.mix_at_snr(x, talkers, rng.uniform(*s.babble_snr_db))
        if rng.random() < s.noise_probability:
            x = degrade.mix_at_snr(x, self._noise(n, rng), rng.uniform(*s.snr_db))
        if rng.random() < s.band_limit_probability:
            colouration.append(degrade.band_limit_sos(sr, rng.uniform(3000.0, 7000.0)))
            x = signal.sosfilt(colouration[-1], x).astype(np.float32)
        if rng.random() < s.clip_probability:
            x = degrade.soft_clip(x, rng.uniform(0.3, 0.8))
        if rng.random() < s.codec_probability:
            x = degrade.codec_round_trip(x, sr, rng)
        return x, colouration

    def _reverberate(self, audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        use_sim = bool(self.simulated) and (
            not self.rirs or rng.random() < self.settings.simulated_rir_probability)
        bank = self.simulated if use_sim else self.rirs
        if not bank:
            return audio
        rir = bank[int(rng.integers(len(bank)))]
        t60_s = degrade.estimate_t60_s(rir, self.sample_rate_hz)
        rir = degrade.shorten_t60(rir, rng.uniform(0.3, 1.0), self.sample_rate_hz, t60_s)
        rir = degrade.set_drr(rir, rng.uniform(*self.settings.drr_db), self.sample_rate_hz)
        return fftconvolve(audio, rir)[: len(audio)].astype(np.float32)

    def _noise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """One noise — a real recording (half the time), coloured noise, rumble, clatter or
        hum — reshaped and modulated at random (`degrade.reshape_noise`) two times in three,
        and one time in four with a second kind beneath it. Real noise is the scarcest data
        here (≈ 15 min): without this the network met unseen, non-stationary noise badly."""
        noise = self._one_noise(n, rng)
        if rng.random() < 0.25:
            noise = noise + 10 ** (-rng.uniform(3.0, 15.0) / 20.0) * self._one_noise(n, rng)
        return noise.astype(np.float32)

    def _one_noise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        sr, kind = self.sample_rate_hz, rng.random()
        if self.noises and kind < 0.5:
            noise = self.noises[int(rng.integers(len(self.noises)))]
            if len(noise) < n:
                noise = np.tile(noise, n // len(noise) + 1)
            start = int(rng.integers(len(noise) - n + 1))
            noise = noise[start:start + n]
        elif kind < 0.7:
            noise = degrade.coloured_noise(n, float(rng.uniform(0.0, 2.0)), rng)
        elif kind < 0.8:
            noise = degrade.rumble(n, sr, rng)
        elif kind < 0.92:
            noise = degrade.impacts(n, sr, rng)
        else:
            return degrade.hum(n, sr, rng)
        if rng.random() < 2 / 3:
            noise = degrade.reshape_noise(noise, sr, rng)
        return noise


def _random_segment(clips: list[np.ndarray], weights: np.ndarray, n: int,
                    rng: np.random.Generator) -> np.ndarray:
    """A segment with speech in it (skips near-silent picks), zero-padded if a clip is short."""
    for _ in range(8):
        clip = clips[int(rng.choice(len(clips), p=weights))]
        start = int(rng.integers(max(1, len(clip) - n + 1)))
        segment = clip[start:start + n]
        if np.sqrt(np.mean(segment**2)) > 3e-3:
            break
    return np.pad(segment, (0, n - len(segment)))


class SpeechBatches:
    """Random degraded batches from clean clips held in RAM."""

    def __init__(self, clips: list[np.ndarray], degrader: Degrader) -> None:
        if not clips:
            raise ValueError("no clean training audio")
        self.clips = clips
        lengths = np.array([len(c) for c in clips], dtype=np.float64)
        self.weights = lengths / lengths.sum()
        self.degrader = degrader

    def batch(self, batch_size: int, segment_samples: int, rng: np.random.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """→ (noisy [B, 1, T], clean [B, 1, T])."""
        pairs = [self.degrader(_random_segment(self.clips, self.weights, segment_samples, rng),
                               rng) for _ in range(batch_size)]
        noisy = torch.from_numpy(np.stack([p[0] for p in pairs]))[:, None]
        clean = torch.from_numpy(np.stack([p[1] for p in pairs]))[:, None]
        return noisy, clean


def load_plain_folders(roots: str | Path | Sequence[str | Path], sample_rate_hz: int,
                       settings: DegradeSettings, simulated_rirs: int = 24, seed: int = 0
                       ) -> tuple[SpeechBatches, list[tuple[np.ndarray, np.ndarray]]]:
    """Training batches + a fixed validation list from one or more plain `clean/ noise/ rir/`
    trees (e.g. ../shared/data and a corpus built by `make data`), read in the order given."""
    folders = [PlainFolders(Path(r)) for r in _as_list(roots)]
    train_files = [p for f in folders for p in f.clean("train")]
    fit_files = [p for p in train_files if not is_validation_file(p)]
    val_files = [p for p in train_files if is_validation_file(p)]
    log.info("clean: %d training files, %d validation files from %d root(s)",
             len(fit_files), len(val_files), len(folders))
    clips = [load_audio(p, sample_rate_hz) for p in fit_files]
    noises = [load_audio(p, sample_rate_hz) for f in folders for p in f.noise("train")]
    rirs = [load_audio(p, sample_rate_hz, first_channel_only=True)
            for f in folders for p in f.rirs("train")]
    # Talkers in the background: babble/ speech (not clean enough to be a target) and the
    # training speakers themselves.
    babble = [load_audio(p, sample_rate_hz) for f in folders for p in f.babble("train")]
    rng = np.random.default_rng(seed)
    degrader = Degrader(settings, sample_rate_hz, noises, rirs, babble + clips)
    degrader.add_simulated_rirs(simulated_rirs, rng)
    val_rng = np.random.default_rng(1234)  # fixed: every validation pass sees the same inputs
    validation = [degrader(load_audio(p, sample_rate_hz)[: 4 * sample_rate_hz], val_rng)
                  for p in val_files]
    return SpeechBatches(clips, degrader), validation


def _as_list(roots: str | Path | Sequence[str | Path]) -> list[str | Path]:
    if isinstance(roots, (str, Path)):
        return [roots]
    if not roots:
        raise ValueError("no data roots given")
    return list(roots)
