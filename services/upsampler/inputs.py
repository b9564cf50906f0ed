"""How the U-Net's band-limited inputs are made from full-band 48 kHz speech.

Kuleshov et al. note the model is very sensitive to how the low-rate input was made, and in
use the input's band is set by whatever came before: the enhancer's 16 kHz output, a phone's
resampler, an IIR anti-alias filter, a low-bitrate codec. So every training input draws one
`InputSpec` (`random_spec`):
- `soxr`: through 8, 11.025, 16, 22.05 or 24 kHz and back (a resampler's brick wall);
- `iir`: Butterworth, Chebyshev I or elliptic low-pass (order 4–12) or an FFT brick wall at
  4, 5.5, 7, 8 or 11 kHz (±5 %), zero-phase; below 8 kHz then subsampled to 16 kHz without
  further filtering (as scipy.signal.decimate does: shallow filters leave some aliasing),
  at 8 and 11 kHz kept at 48 kHz (a full-rate recording of a narrow band);
- `codec`: AAC, MP3 or Opus at low bitrates through PyAV, decoded, realigned to the input by
  cross-correlation (encoder delay) — the encoder picks its own band.
Every input comes back at 48 kHz, aligned with the target, with the cutoff the chain would
measure (`measure_cutoff_hz`: shared.audio.bandwidth, the chain's, the job report's and the web
page's estimate): that value, not the nominal one, conditions the network, so training sees
what inference will be given.

`EVAL_FILTERS` are the fixed 16 kHz inputs of `make eval-sr` and the band-gain calibration.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import scipy.signal as sps
import soxr

from services.upsampler.engines import ResampleEngine
from shared.audio.bandwidth import bandwidth_hz

TARGET_RATE_HZ = 48000
LOW_RATE_HZ = 16000


# ---- the fixed 16 kHz evaluation inputs ----------------------------------------------------


@dataclass(frozen=True)
class FilterParams:
    """How one band-limited input is made. cutoff_hz: −3 dB (IIR) or brick-wall (mp3) edge."""

    filter_type: str
    cutoff_hz: float = 7200.0
    order: int = 8
    ripple_db: float = 0.05
    soxr_quality: str = "VHQ"


# Fixed settings for evaluation; chebyshev is what scipy.signal.decimate uses (order 8, 0.05 dB
# ripple, 0.8 × Nyquist); "mp3" is an MP3-like brick wall, not an encoder.
EVAL_FILTERS: dict[str, FilterParams] = {
    "soxr": FilterParams("soxr"),
    "butterworth": FilterParams("butterworth", cutoff_hz=7200.0, order=8),
    "chebyshev": FilterParams("chebyshev", cutoff_hz=6400.0, order=8, ripple_db=0.05),
    "mp3": FilterParams("mp3", cutoff_hz=7250.0),
}


def lowpass_48k(audio_48k: np.ndarray, params: FilterParams) -> np.ndarray:
    """The anti-alias step at 48 kHz (zero-phase, so input and target stay aligned)."""
    family = {"butterworth": "butter", "chebyshev": "cheby1", "mp3": "brickwall"}.get(
        params.filter_type
    )
    if family is None:
        raise ValueError(f"no 48 kHz low-pass for filter type {params.filter_type!r}")
    return iir_lowpass(audio_48k, TARGET_RATE_HZ, family, params.cutoff_hz, params.order,
                       params.ripple_db)


def degrade_to_16k(audio_48k: np.ndarray, params: FilterParams) -> np.ndarray:
    """48 kHz → 16 kHz through the given filter; IIR/mp3 paths decimate by plain subsampling."""
    if params.filter_type == "soxr":
        return soxr.resample(audio_48k, TARGET_RATE_HZ, LOW_RATE_HZ, quality=params.soxr_quality)
    return np.ascontiguousarray(lowpass_48k(audio_48k, params)[:: TARGET_RATE_HZ // LOW_RATE_HZ])


def interpolate_to_48k(audio: np.ndarray, rate_hz: int = LOW_RATE_HZ) -> np.ndarray:
    """Exactly the `resample` engine's output: the network's input and the baseline."""
    return ResampleEngine().upsample(audio, rate_hz, TARGET_RATE_HZ)


# ---- training inputs ------------------------------------------------------------------------

SOXR_RATES_HZ = (8000, 11025, 16000, 22050, 24000)
SOXR_RATE_WEIGHTS = (0.15, 0.15, 0.5, 0.1, 0.1)  # 16 kHz: the enhancer's output, the main use
IIR_CUTOFFS_HZ = (4000.0, 5500.0, 7000.0, 8000.0, 11000.0)
IIR_FAMILIES = ("butter", "cheby1", "ellip", "brickwall")
# codec → (PyAV encoder, container, (rate, bitrates in bit/s) choices)
CODECS: dict[str, tuple[str, str, tuple[tuple[int, tuple[int, ...]], ...]]] = {
    "aac": ("aac", "mp4", ((16000, (16000, 24000)), (24000, (24000, 32000)),
                           (48000, (32000, 48000)))),
    "mp3": ("libmp3lame", "mp3", ((16000, (24000, 32000)), (22050, (32000, 48000)),
                                  (24000, (48000,)))),
    "opus": ("libopus", "ogg", ((48000, (12000, 16000, 24000)),)),
}
OPUS_BANDS_HZ = (6000, 8000, 12000)  # libopus `cutoff`: its bandwidth (MB, WB, SWB) at any rate
KIND_WEIGHTS = {"soxr": 0.35, "iir": 0.4, "codec": 0.25}
MAX_CODEC_LAG_S = 0.1  # encoder priming / decoder delay searched over (AAC primes 1024–2112)


@dataclass(frozen=True)
class InputSpec:
    """One way to make an input. kind: soxr | iir | codec. rate_hz: the rate it passes
    through; family: iir (butter, cheby1, ellip, brickwall) or codec (aac, mp3, opus);
    cutoff_hz: the nominal edge (soxr: rate / 2; Opus: its band; AAC, MP3: rate / 2, the
    encoder picks a narrower one)."""

    kind: str
    rate_hz: int = LOW_RATE_HZ
    family: str = ""
    cutoff_hz: float = 8000.0
    order: int = 8
    ripple_db: float = 0.1
    bitrate: int = 0
    soxr_quality: str = "VHQ"


def random_spec(rng: np.random.Generator, kind: str | None = None) -> InputSpec:
    kind = kind or str(rng.choice(list(KIND_WEIGHTS), p=list(KIND_WEIGHTS.values())))
    if kind == "soxr":
        rate = int(rng.choice(SOXR_RATES_HZ, p=SOXR_RATE_WEIGHTS))
        return InputSpec(kind, rate, cutoff_hz=rate / 2,
                         soxr_quality=str(rng.choice(["HQ", "VHQ"])))
    if kind == "iir":
        cutoff = float(rng.choice(IIR_CUTOFFS_HZ)) * rng.uniform(0.95, 1.05)
        family = str(rng.choice(IIR_FAMILIES))
        order = int(rng.integers(4, 9 if family == "ellip" else 13))
        rate = LOW_RATE_HZ if cutoff < 7700 else TARGET_RATE_HZ
        return InputSpec(kind, rate, family, cutoff, order, float(rng.uniform(0.05, 1.0)))
    if kind == "codec":
        family = str(rng.choice(list(CODECS)))
        rate, bitrates = CODECS[family][2][int(rng.integers(len(CODECS[family][2])))]
        cutoff = float(rng.choice(OPUS_BANDS_HZ)) if family == "opus" else rate / 2
        return InputSpec(kind, rate, family, cutoff, bitrate=int(rng.choice(bitrates)))
    raise ValueError(f"unknown input kind {kind!r}")


def iir_lowpass(audio: np.ndarray, rate_hz: int, family: str, cutoff_hz: float, order: int = 8,
                ripple_db: float = 0.1) -> np.ndarray:
    """Zero-phase low-pass (sosfiltfilt: the order's slope twice, no delay); `brickwall`
    zeroes every FFT bin above the cutoff (ssr_eval's recommended way to band-limit)."""
    if family == "brickwall":
        spectrum = np.fft.rfft(audio)
        spectrum[np.fft.rfftfreq(len(audio), 1 / rate_hz) > cutoff_hz] = 0
        return np.fft.irfft(spectrum, n=len(audio)).astype(np.float32)
    edge = cutoff_hz / (rate_hz / 2)
    if family == "butter":
        sos = sps.butter(order, edge, output="sos")
    elif family == "cheby1":
        sos = sps.cheby1(order, ripple_db, edge, output="sos")
    elif family == "ellip":
        sos = sps.ellip(order, ripple_db, 60.0, edge, output="sos")
    else:
        raise ValueError(f"unknown low-pass family {family!r}")
    return sps.sosfiltfilt(sos, audio).astype(np.float32)


def realign(decoded: np.ndarray, reference: np.ndarray, max_lag: int) -> np.ndarray:
    """decoded shifted by the lag in [0, max_lag] whose cross-correlation with reference is
    largest, cut or zero-padded to the reference's length."""
    n = len(reference)
    decoded = np.pad(decoded, (0, max(0, n + max_lag - len(decoded))))
    size = 1 << int(np.ceil(np.log2(2 * len(decoded))))
    correlation = np.fft.irfft(
        np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(reference, size)), size
    )
    lag = int(np.argmax(correlation[: max_lag + 1]))
    return decoded[lag : lag + n].astype(np.float32)


def codec_round_trip(audio: np.ndarray, rate_hz: int, codec: str, bitrate: int,
                     opus_band_hz: float = 8000.0) -> np.ndarray:
    """Encode `audio` (mono, at a rate the codec takes) with PyAV and decode it again,
    realigned to the input; same length and rate. AAC and MP3 choose their band from the
    bitrate; Opus is told its band (`opus_band_hz`)."""
    import av

    encoder, container, _ = CODECS[codec]
    x = np.clip(audio, -1.0, 1.0).astype(np.float32)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        options = {"cutoff": str(int(opus_band_hz))} if codec == "opus" else {}
        stream = out.add_stream(encoder, rate=rate_hz, layout="mono", options=options)
        stream.bit_rate = bitrate
        frame = av.AudioFrame.from_ndarray(x[None], format="flt", layout="mono")
        frame.sample_rate = rate_hz
        frame.pts = 0  # the encoder re-frames the block to its own frame size
        for packet in (*stream.encode(frame), *stream.encode(None)):
            out.mux(packet)
    buffer.seek(0)
    with av.open(buffer) as source:
        # the decoders here give planar or packed float (fltp/flt), mono: one row
        decoded = [f.to_ndarray().reshape(-1) for f in source.decode(audio=0)]
        rate_out = source.streams.audio[0].rate
    y = np.concatenate(decoded).astype(np.float32) if decoded else np.zeros(0, np.float32)
    if rate_out != rate_hz:  # Opus decodes at 48 kHz whatever it was given
        y = soxr.resample(y, rate_out, rate_hz, quality="VHQ")
    return realign(y, x, int(MAX_CODEC_LAG_S * rate_hz))


def make_input(target_48k: np.ndarray, spec: InputSpec) -> np.ndarray:
    """The band-limited input for `target_48k` [T] → [T] at 48 kHz, aligned with it."""
    n = len(target_48k)
    rate = spec.rate_hz
    if spec.kind == "soxr":
        low = soxr.resample(target_48k, TARGET_RATE_HZ, rate, quality=spec.soxr_quality)
    elif spec.kind == "iir":
        low = iir_lowpass(target_48k, TARGET_RATE_HZ, spec.family, spec.cutoff_hz, spec.order,
                          spec.ripple_db)
        if rate != TARGET_RATE_HZ:
            low = np.ascontiguousarray(low[:: TARGET_RATE_HZ // rate])  # no further filtering
    elif spec.kind == "codec":
        low = target_48k if rate == TARGET_RATE_HZ else soxr.resample(
            target_48k, TARGET_RATE_HZ, rate, quality="VHQ")
        low = codec_round_trip(low, rate, spec.family, spec.bitrate, spec.cutoff_hz)
    else:
        raise ValueError(f"unknown input kind {spec.kind!r}")
    out = low if rate == TARGET_RATE_HZ else interpolate_to_48k(low, rate)
    return np.ascontiguousarray(out[:n] if len(out) >= n else np.pad(out, (0, n - len(out))),
                                dtype=np.float32)


def measure_cutoff_hz(audio: np.ndarray, rate_hz: int = TARGET_RATE_HZ) -> float:
    """The input's effective bandwidth as the chain measures it (shared.audio.bandwidth: the
    highest frequency within 60 dB of the long-term spectrum's peak); rate / 2 for silence or
    a signal shorter than one frame."""
    measured = bandwidth_hz([np.asarray(audio, dtype=np.float32).reshape(-1)], rate_hz)
    return float(rate_hz / 2 if measured is None else measured)
