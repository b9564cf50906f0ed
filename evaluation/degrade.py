"""Degradations for the generated evaluation set: real noise at a set SNR, device colouration.

All are zero-delay (noise is added, colouration is a linear-phase FIR applied centred), so the
clean reference stays sample-aligned with the degraded signal.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve, firwin2


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)) + 1e-12)


def noise_segment(noise: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """`length` samples from a random offset of a noise recording, looped (with a short
    cross-fade at the seam) when the recording is shorter."""
    noise = np.asarray(noise, dtype=np.float32)
    if len(noise) >= length:
        start = int(rng.integers(0, len(noise) - length + 1))
        return noise[start : start + length].copy()
    fade = min(len(noise) // 4, 800)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    looped = noise.copy()
    while len(looped) < length + len(noise):
        tail, head = looped[-fade:], noise[:fade]
        looped = np.concatenate([looped[:-fade], tail * (1 - ramp) + head * ramp, noise[fade:]])
    start = int(rng.integers(0, len(noise)))
    return looped[start : start + length].copy()


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """speech + noise scaled so that rms(speech)/rms(noise) is `snr_db` (whole-clip power, as the
    DNS Challenge scripts define it)."""
    gain = rms(speech) / (rms(noise) * 10 ** (snr_db / 20))
    return (speech + gain * noise).astype(np.float32)


def device_response(rng: np.random.Generator, sample_rate_hz: int) -> dict[str, float]:
    """Random phone/laptop colouration: high-pass corner, low-pass (band-limit) corner and three
    peaking bands of ±6 dB at most. Returned as plain numbers so the manifest records them."""
    return {
        "highpass_hz": float(rng.uniform(80, 300)),
        "lowpass_hz": float(min(rng.choice([3400, 4000, 5500, 7000]), sample_rate_hz / 2 - 100)),
        **{f"peak{i}_hz": float(np.exp(rng.uniform(np.log(200), np.log(4000)))) for i in range(3)},
        **{f"peak{i}_gain_db": float(rng.uniform(-6, 6)) for i in range(3)},
        **{f"peak{i}_octaves": float(rng.uniform(0.5, 2.0)) for i in range(3)},
    }


def _magnitude_db(freqs_hz: np.ndarray, params: dict[str, float]) -> np.ndarray:
    f = np.maximum(freqs_hz, 1.0)
    # 4th-order Butterworth-like skirts (24 dB/octave) at both corners
    gain_db = -10 * np.log10(1 + (params["highpass_hz"] / f) ** 8)
    gain_db += -10 * np.log10(1 + (f / params["lowpass_hz"]) ** 16)  # steep codec band-limit
    for i in range(3):
        octaves_off = np.log2(f / params[f"peak{i}_hz"]) / (params[f"peak{i}_octaves"] / 2)
        gain_db += params[f"peak{i}_gain_db"] * np.exp(-0.5 * octaves_off**2)
    return np.maximum(gain_db, -80.0)


def apply_device(audio: np.ndarray, params: dict[str, float], sample_rate_hz: int) -> np.ndarray:
    """Filter with the colouration as a linear-phase FIR, centred so it adds no delay."""
    taps = 1023
    freqs_hz = np.linspace(0, sample_rate_hz / 2, 257)
    gains = 10 ** (_magnitude_db(freqs_hz, params) / 20)
    fir = firwin2(taps, freqs_hz, gains, fs=sample_rate_hz)
    filtered = fftconvolve(np.asarray(audio, dtype=np.float64), fir)
    delay = (taps - 1) // 2
    return filtered[delay : delay + len(audio)].astype(np.float32)
