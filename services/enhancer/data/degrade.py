"""On-the-fly degradation: clean speech → what a phone in a room records.

Reverberation (measured or simulated impulse responses, aligned on the direct path, with
Bryan 2019 DRR/T60 augmentation), device colouration, noise at a random SNR (real recordings,
coloured noise, mains hum, rumble, clatter, each reshaped and modulated at random),
band-limiting, mild clipping, and a random speaker gain.
Every function takes its randomness from a numpy Generator, so validation is reproducible.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

DIRECT_PATH_S = 0.0025  # Bryan 2019: the direct sound is the first ±2.5 ms around the peak


def align_on_direct_path(rir: np.ndarray) -> np.ndarray:
    """Drop the pre-delay so the direct path is sample 0, and scale it to +1.

    Convolving with the result keeps speech in time with the dry target (the seed's fork kept
    the pre-delay, so its reverberant input lagged its clean target).
    """
    peak = int(np.argmax(np.abs(rir)))
    aligned = rir[peak:].astype(np.float32)
    return aligned / aligned[0]


def drr_db(rir: np.ndarray, sample_rate_hz: int) -> float:
    """Direct-to-reverberant ratio of an aligned RIR (direct path at sample 0)."""
    n_direct = max(1, int(DIRECT_PATH_S * sample_rate_hz))
    direct = float(np.sum(rir[:n_direct] ** 2))
    tail = float(np.sum(rir[n_direct:] ** 2)) + 1e-12
    return 10.0 * np.log10(direct / tail + 1e-12)


def set_drr(rir: np.ndarray, target_drr_db: float, sample_rate_hz: int) -> np.ndarray:
    """Scale the reverberant tail so the aligned RIR has the target DRR (Bryan 2019 §3)."""
    n_direct = max(1, int(DIRECT_PATH_S * sample_rate_hz))
    tail_gain = 10 ** ((drr_db(rir, sample_rate_hz) - target_drr_db) / 20.0)
    out = rir.copy()
    out[n_direct:] *= tail_gain
    return out


def shorten_t60(rir: np.ndarray, factor: float, sample_rate_hz: int, t60_s: float) -> np.ndarray:
    """Make the tail decay `factor` (< 1) times as long by an extra exponential envelope."""
    if factor >= 1.0:
        return rir
    # Energy decays 60 dB in t60; to decay in factor·t60, multiply by exp(-k t) with
    # k = ln(1000)/t60 · (1/factor − 1) (amplitude, 60 dB = 1000×).
    k = np.log(1000.0) / t60_s * (1.0 / factor - 1.0)
    t = np.arange(len(rir)) / sample_rate_hz
    return (rir * np.exp(-k * t)).astype(np.float32)


def estimate_t60_s(rir: np.ndarray, sample_rate_hz: int) -> float:
    """Schroeder backward integration, T20 extrapolated to 60 dB; 0.3 s if undefined."""
    energy = np.cumsum(rir[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(energy / (energy[0] + 1e-12) + 1e-12)
    below5, below25 = np.argmax(edc_db < -5), np.argmax(edc_db < -25)
    if below25 <= below5:
        return 0.3
    return float(3.0 * (below25 - below5) / sample_rate_hz)


def simulate_rir(rng: np.random.Generator, sample_rate_hz: int) -> np.ndarray:
    """A shoebox room with random size and T60 (pyroomacoustics image method)."""
    import pyroomacoustics as pra

    dims = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 4.0])
    t60_s = rng.uniform(0.2, 1.0)
    absorption, max_order = pra.inverse_sabine(t60_s, dims)
    room = pra.ShoeBox(dims, fs=sample_rate_hz, materials=pra.Material(absorption),
                       max_order=min(max_order, 20))
    room.add_source(rng.uniform(0.5, dims - 0.5))
    room.add_microphone(rng.uniform(0.5, dims - 0.5))
    room.compute_rir()
    return np.asarray(room.rir[0][0], dtype=np.float32)


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power ∝ 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    freqs = np.maximum(np.arange(n // 2 + 1), 1.0)
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2.0), n)
    return (noise / (np.std(noise) + 1e-12)).astype(np.float32)


def hum(n: int, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum: 50 or 60 Hz with decaying odd and even harmonics, unit RMS."""
    f0 = rng.choice([50.0, 60.0]) * rng.uniform(0.99, 1.01)
    t = np.arange(n) / sample_rate_hz
    out = sum(rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3))
              for h in range(1, 8))
    return (out / (np.std(out) + 1e-12)).astype(np.float32)


def rumble(n: int, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """Low-frequency rumble (engines, traffic, ventilation): brown noise low-passed at
    80–500 Hz, unit RMS."""
    sos = signal.butter(4, rng.uniform(80.0, 500.0), "lowpass", fs=sample_rate_hz, output="sos")
    out = signal.sosfilt(sos, coloured_noise(n, 2.0, rng))
    return (out / (np.std(out) + 1e-12)).astype(np.float32)


def impacts(n: int, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """Clatter (dishes, typing, doors, footsteps): 0.5–8 short noise bursts per second, each
    band-coloured and decaying in 5–80 ms, with random levels; unit RMS."""
    out = np.zeros(n, np.float32)
    count = max(1, int(rng.uniform(0.5, 8.0) * n / sample_rate_hz))
    for start in rng.integers(0, n, count):
        length = int(rng.uniform(0.02, 0.3) * sample_rate_hz)
        decay_s = rng.uniform(0.005, 0.08)
        decay = np.exp(-np.arange(length) / (decay_s * sample_rate_hz))
        burst = rng.standard_normal(length) * decay
        centre = float(np.exp(rng.uniform(np.log(300.0), np.log(0.4 * sample_rate_hz))))
        low, high = centre / rng.uniform(1.5, 4.0), min(centre * rng.uniform(1.5, 4.0),
                                                        0.49 * sample_rate_hz)
        burst = signal.sosfilt(signal.butter(2, (low, high), "bandpass", fs=sample_rate_hz,
                                             output="sos"), burst)
        end = min(n, int(start) + length)
        out[start:end] += (10 ** (rng.uniform(-20.0, 0.0) / 20.0) * burst[: end - start]
                           / (np.max(np.abs(burst)) + 1e-12))
    return (out / (np.std(out) + 1e-12)).astype(np.float32)


def reshape_noise(noise: np.ndarray, sample_rate_hz: int, rng: np.random.Generator
                  ) -> np.ndarray:
    """A noise made into another: two to four random ±12 dB peaks and a tilt (a different
    source, room and microphone), then a slow random level (0.1–4 Hz, up to 20 dB deep: a
    passing car, a tap turned on and off); unit RMS. Turns 15 minutes of real noise and the
    stationary generators into many more noises than the training set holds."""
    sections = [peaking_sos(float(np.exp(rng.uniform(np.log(60.0),
                                                     np.log(0.45 * sample_rate_hz)))),
                            rng.uniform(-12.0, 12.0), rng.uniform(0.5, 4.0), sample_rate_hz)
                for _ in range(int(rng.integers(2, 5)))]
    tilt_hz = rng.uniform(200.0, 3000.0)
    kind = "lowpass" if rng.random() < 0.5 else "highpass"
    sections.append(signal.butter(1, tilt_hz, kind, fs=sample_rate_hz, output="sos"))
    out = signal.sosfilt(np.concatenate(sections), noise)
    n = len(out)
    rate_hz = rng.uniform(0.1, 4.0)
    knots = max(2, int(n / sample_rate_hz * rate_hz) + 2)
    level_db = rng.uniform(0.0, 20.0) * rng.random(knots)
    envelope = 10 ** (-np.interp(np.arange(n), np.linspace(0, n, knots), level_db) / 20.0)
    out = out * envelope
    return (out / (np.std(out) + 1e-12)).astype(np.float32)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    speech_power = float(np.mean(speech**2)) + 1e-12
    noise_power = float(np.mean(noise**2)) + 1e-12
    return speech + noise * np.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10.0)))


def peaking_sos(freq_hz: float, gain_db: float, q: float, sample_rate_hz: int) -> np.ndarray:
    """RBJ cookbook peaking EQ as one second-order section."""
    a = 10 ** (gain_db / 40.0)
    w0 = 2 * np.pi * freq_hz / sample_rate_hz
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def device_eq_sos(sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """A small device's colouration: high-pass at 80–300 Hz plus three random ±8 dB peaks."""
    sections = [signal.butter(2, rng.uniform(80, 300), "highpass", fs=sample_rate_hz,
                              output="sos")]
    for _ in range(3):
        sections.append(peaking_sos(float(np.exp(rng.uniform(np.log(200), np.log(6000)))),
                                    rng.uniform(-8, 8), rng.uniform(0.7, 3.0), sample_rate_hz))
    return np.concatenate(sections)


def band_limit_sos(sample_rate_hz: int, cutoff_hz: float) -> np.ndarray:
    return signal.butter(8, cutoff_hz, "lowpass", fs=sample_rate_hz, output="sos")


def band_limit(audio: np.ndarray, sample_rate_hz: int, cutoff_hz: float) -> np.ndarray:
    return signal.sosfilt(band_limit_sos(sample_rate_hz, cutoff_hz), audio).astype(np.float32)


def soft_clip(audio: np.ndarray, threshold: float) -> np.ndarray:
    """Mild clipping at `threshold` × peak (hard clip, as cheap recorders do)."""
    limit = threshold * (float(np.max(np.abs(audio))) + 1e-12)
    return np.clip(audio, -limit, limit)


def random_gain_db(rng: np.random.Generator, gain_range_db: tuple[float, float]) -> float:
    """Uniform in (low, high) — the seed drew from (low, low) and so never varied."""
    low, high = gain_range_db
    return float(rng.uniform(low, high))


# Phone and messenger codecs at low bitrates: (codec, container, rate the codec runs at,
# bitrates in bit/s). AMR-NB is the narrowband call codec (8 kHz, 4.75–12.2 kb/s).
CODECS: tuple[tuple[str, str, int, tuple[int, ...]], ...] = (
    ("libopus", "ogg", 16_000, (8_000, 12_000, 16_000, 24_000)),
    ("aac", "mp4", 16_000, (16_000, 24_000, 32_000)),
    ("libmp3lame", "mp3", 16_000, (24_000, 32_000, 48_000)),
    ("libopencore_amrnb", "amr", 8_000, (7_950, 10_200, 12_200)),
)
MAX_CODEC_LAG = 4096  # encoder priming/decoder delay we search over (AAC primes 1024–2112)


def codec_round_trip(audio: np.ndarray, sample_rate_hz: int, rng: np.random.Generator,
                     codec_index: int | None = None) -> np.ndarray:
    """Encode with a phone codec (random, or CODECS[codec_index]) at a random low bitrate and
    decode, realigned to the input (the lag that maximises the cross-correlation) and at the
    input's length and rate."""
    import io

    import av
    import soxr

    if codec_index is None:
        codec_index = int(rng.integers(len(CODECS)))
    codec, container, codec_rate, bitrates = CODECS[codec_index]
    x = audio if codec_rate == sample_rate_hz else soxr.resample(audio, sample_rate_hz,
                                                                 codec_rate)
    x = np.clip(x, -1.0, 1.0).astype(np.float32)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=codec_rate, layout="mono")
        stream.bit_rate = int(rng.choice(bitrates))
        frame = av.AudioFrame.from_ndarray(x[None], format="flt", layout="mono")
        frame.sample_rate = codec_rate
        frame.pts = 0  # PyAV's encoder re-frames the block to the codec's frame size
        for packet in (*stream.encode(frame), *stream.encode(None)):
            out.mux(packet)
    buffer.seek(0)
    with av.open(buffer) as source:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=codec_rate)
        decoded = [f.to_ndarray().reshape(-1) for fr in source.decode(audio=0)
                   for f in resampler.resample(fr)]
    y = np.concatenate(decoded) if decoded else np.zeros(0, np.float32)
    if codec_rate != sample_rate_hz:
        y = soxr.resample(y, codec_rate, sample_rate_hz)
    return _realign(y.astype(np.float32), audio, int(MAX_CODEC_LAG * sample_rate_hz / 16_000))


def _realign(decoded: np.ndarray, reference: np.ndarray, max_lag: int) -> np.ndarray:
    """decoded shifted by the lag in [0, max_lag] that best matches reference, cut/padded to
    the reference's length."""
    n = len(reference)
    decoded = np.pad(decoded, (0, max(0, n + max_lag - len(decoded))))
    size = 1 << int(np.ceil(np.log2(2 * len(decoded))))
    correlation = np.fft.irfft(np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(reference, size)),
                               size)
    lag = int(np.argmax(correlation[: max_lag + 1]))
    return decoded[lag:lag + n].astype(np.float32)


def babble(clips: list[np.ndarray], n: int, rng: np.random.Generator, talkers: int
           ) -> np.ndarray:
    """Other people talking: `talkers` random stretches of speech summed, unit RMS."""
    out = np.zeros(n, dtype=np.float32)
    for _ in range(talkers):
        clip = clips[int(rng.integers(len(clips)))]
        if len(clip) < n:
            clip = np.tile(clip, n // max(len(clip), 1) + 1)
        start = int(rng.integers(len(clip) - n + 1))
        out += clip[start:start + n] / (np.std(clip[start:start + n]) + 1e-4)
    return (out / (np.std(out) + 1e-9)).astype(np.float32)
