"""U-Net super-resolution as a pure function: 16 kHz audio in, 48 (or 44.1) kHz audio out.

Long inputs run in overlapping chunks whose *residuals* (model output − interpolated input) are
cross-faded with complementary raised-cosine ramps, so memory stays flat in the model and the
join is smooth; chunk starts sit on multiples of the model's length multiple, so a chunk sees
the same stride phase as the whole signal and chunked equals whole-signal inference up to the
edge effects the overlap hides.
"""

from __future__ import annotations

import numpy as np
import soxr

from services.upsampler.engines import ResampleEngine, fit_length, output_length

MODEL_RATE_HZ = 48000
INPUT_RATE_HZ = 16000
# The residual's bands for calibrated gains: below 6 kHz (where a 16 kHz input is rarely
# filtered), 6–7.4 and 7.4–8 kHz (anti-alias roll-offs the network can restore in phase: gentle
# IIR filters start near 6 kHz, soxr-like ones near 7.4), above 8 kHz (the invented band).
BAND_EDGES_HZ = (6000.0, 7400.0, 8000.0)
BAND_NAMES = ("below 6 kHz", "6-7.4 kHz", "7.4-8 kHz", "above 8 kHz")
RAW_GAINS = (1.0, 1.0, 1.0, 1.0)


def _length_multiple(model) -> int:
    """2 ** (number of stride-2 convs): the input length the skips need."""
    strided = [
        layer
        for layer in model.layers
        if getattr(layer, "strides", None) is not None and tuple(layer.strides) == (2,)
    ]
    return 2 ** len(strided)


def _run_model(model, chunks: np.ndarray, batch_size: int) -> np.ndarray:
    """chunks: [N, T] → residuals [N, T] (model output − input)."""
    out = np.empty_like(chunks)
    for start in range(0, len(chunks), batch_size):
        batch = chunks[start : start + batch_size, :, None]
        out[start : start + batch_size] = np.asarray(model(batch, training=False))[..., 0]
    return out - chunks


def _crossfade_window(length: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    """Weights for one chunk; neighbours' ramps sum to exactly 1 over each overlap."""
    window = np.ones(length, dtype=np.float32)
    ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / overlap)).astype(np.float32)
    if not first:
        window[:overlap] = ramp
    if not last:
        window[-overlap:] = ramp[::-1]
    return window


def upsample_48k(
    model,
    interpolated: np.ndarray,
    chunk_s: float = 4.0,
    overlap_s: float = 0.25,
    batch_size: int = 4,
) -> np.ndarray:
    """interpolated: [T] at 48 kHz (the soxr-interpolated input) → [T] model output."""
    multiple = _length_multiple(model)
    overlap = max(multiple, int(round(overlap_s * MODEL_RATE_HZ / multiple)) * multiple)
    chunk = max(2 * overlap + multiple, int(round(chunk_s * MODEL_RATE_HZ / multiple)) * multiple)
    # Zero margins (≥ the receptive field) on both sides: every output sample near the signal's
    # edges then sees the same context whether the signal is cut into chunks or not.
    margin = overlap
    interpolated = np.asarray(interpolated, dtype=np.float32)
    signal = np.concatenate(
        [np.zeros(margin, np.float32), interpolated, np.zeros(margin, np.float32)]
    )
    n = len(signal)
    if n <= chunk:  # one chunk: just pad to the length multiple
        chunk = overlap = max(multiple, int(np.ceil(n / multiple)) * multiple)
    hop = chunk - overlap
    n_chunks = 1 if hop == 0 else max(1, int(np.ceil(max(n - overlap, 1) / hop)))
    padded_length = (n_chunks - 1) * hop + chunk
    padded = np.zeros(padded_length, dtype=np.float32)
    padded[:n] = signal
    starts = [i * hop for i in range(n_chunks)]
    chunks = np.stack([padded[s : s + chunk] for s in starts])
    residuals = _run_model(model, chunks, batch_size)
    residual = np.zeros(padded_length, dtype=np.float32)
    for i, (start, res) in enumerate(zip(starts, residuals, strict=True)):
        residual[start : start + chunk] += res * _crossfade_window(
            chunk, overlap, first=i == 0, last=i == n_chunks - 1
        )
    return interpolated + residual[margin : n - margin]


def upsample(
    model,
    audio_16k: np.ndarray,
    target_rate_hz: int = 48000,
    chunk_s: float = 4.0,
    overlap_s: float = 0.25,
    band_gains: tuple[float, ...] = RAW_GAINS,
) -> np.ndarray:
    """audio_16k: [n] float32 at 16 kHz → [round(n × target / 16000)] float32.

    48 kHz is the model's own rate; any other target (44.1 kHz) resamples the 48 kHz result
    with soxr VHQ. `band_gains` scale the predicted residual's bands (see `apply_band_gains`);
    all 1.0 is the network's raw output.
    """
    audio_16k = np.asarray(audio_16k, dtype=np.float32).reshape(-1)
    n_out = output_length(len(audio_16k), INPUT_RATE_HZ, target_rate_hz)
    if len(audio_16k) == 0:
        return np.zeros(n_out, dtype=np.float32)
    interpolated = ResampleEngine().upsample(audio_16k, INPUT_RATE_HZ, MODEL_RATE_HZ)
    out_48k = upsample_48k(model, interpolated, chunk_s=chunk_s, overlap_s=overlap_s)
    if tuple(band_gains) != RAW_GAINS:
        out_48k = apply_band_gains(interpolated, out_48k, band_gains)
    if target_rate_hz != MODEL_RATE_HZ:
        out_48k = soxr.resample(out_48k, MODEL_RATE_HZ, target_rate_hz, quality="VHQ")
    return fit_length(np.asarray(out_48k, dtype=np.float32), n_out)


def split_residual(interpolated: np.ndarray, output: np.ndarray) -> list[np.ndarray]:
    """The predicted residual (output − interpolated) in the bands of `BAND_NAMES`, cut at
    `BAND_EDGES_HZ` by masks on one FFT of the whole residual; the bands sum to the residual.

    The residual is small and smooth, so the masks' circular ringing is far below it; callers
    that stream (stage.process_file) hand over blocks with context, which hides block edges.
    """
    residual = np.asarray(output - interpolated, dtype=np.float32)
    spectrum = np.fft.rfft(residual)
    freqs_hz = np.fft.rfftfreq(len(residual), 1 / MODEL_RATE_HZ)
    edges = (0.0, *BAND_EDGES_HZ, np.inf)
    bands = [
        np.fft.irfft(np.where((freqs_hz >= lo) & (freqs_hz < hi), spectrum, 0), n=len(residual))
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    return [band.astype(np.float32) for band in bands]


def apply_band_gains(
    interpolated: np.ndarray, output: np.ndarray, gains: tuple[float, ...]
) -> np.ndarray:
    """interpolated + Σ gain_b · band_b(residual), bands as in `split_residual`.

    Invented high-band content has unpredictable phase: at full level it lowers waveform SNR
    while improving the spectrum, and the network's correction of the lower bands helps or
    hurts depending on how the input was band-limited. The gains are calibrated on validation
    files (`calibrate.calibrate_band_gains`) and shipped in the model card.
    """
    bands = split_residual(interpolated, output)
    if len(gains) != len(bands):
        raise ValueError(f"need {len(bands)} band gains ({', '.join(BAND_NAMES)}), got {gains}")
    out = np.array(interpolated, dtype=np.float32, copy=True)
    for gain, band in zip(gains, bands, strict=True):
        out += np.float32(gain) * band
    return out
