"""U-Net super-resolution as a pure function: band-limited audio in (16 kHz, or any rate up to
48 kHz), 48 (or 44.1) kHz audio out. A conditioned network is told the input's cutoff.

Long inputs run in overlapping chunks whose *residuals* (model output − interpolated input) are
cross-faded with complementary raised-cosine ramps, so memory stays flat in the model and the
join is smooth; chunk starts sit on multiples of the model's length multiple, so a chunk sees
the same stride phase as the whole signal and chunked equals whole-signal inference up to the
edge effects the overlap hides.
"""

from __future__ import annotations

import weakref

import numpy as np
import soxr

from services.upsampler.engines import ResampleEngine, fit_length, output_length

MODEL_RATE_HZ = 48000
INPUT_RATE_HZ = 16000
# The residual's bands for calibrated gains, as fractions of the input's cutoff fc (at 8 kHz:
# 6, 7.4 and 8 kHz, the edges of the checkpoints before cutoffs were known): below 0.75 fc
# (rarely filtered), 0.75–0.925 and 0.925–1 fc (anti-alias roll-offs the network can restore in
# phase: gentle IIR filters start near 0.75 fc, soxr-like ones near 0.925), above fc (invented).
BAND_FRACTIONS = (0.75, 0.925, 1.0)
BAND_NAMES = ("below 0.75 fc", "0.75-0.925 fc", "0.925-1 fc", "above fc")
RAW_GAINS = (1.0, 1.0, 1.0, 1.0)
DEFAULT_CUTOFF_HZ = 8000.0  # a 16 kHz input's Nyquist
# Grid tones: six stride-2 convolutions and sub-pixel shuffles leave a pattern that repeats every
# 64 samples (lines at multiples of 750 Hz at 48 kHz, `make eval-sr`'s tonal-line check). Its
# per-phase mean over a sliding 64-period (85 ms) window is subtracted from each chunk's residual:
# narrow notches at the grid's multiples, where speech has no lasting tone.
TONE_WINDOW_PERIODS = 64


def is_conditioned(model) -> bool:
    """True for a network with the cutoff input (model.unet: `cutoff_conditioning`)."""
    conditioned = getattr(model, "conditioned", None)  # a LiteUNet says so itself
    return bool(conditioned) if conditioned is not None else len(model.inputs) == 2


def _length_multiple(model) -> int:
    """2 ** (number of stride-2 convs): the input length the skips need."""
    if getattr(model, "length_multiple", None) is not None:  # a LiteUNet
        return int(model.length_multiple)
    strided = [
        layer
        for layer in model.layers
        if getattr(layer, "strides", None) is not None and tuple(layer.strides) == (2,)
    ]
    return 2 ** len(strided)


_graphs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _graph(model):
    """The model's forward pass as one traced `tf.function`, built once per model. Eager Keras
    pays Python per layer and call: one chunk at a time ran at half the speed of four, traced it
    runs as fast as four at a quarter of the activations' memory (measured on 2 cores). A
    LiteUNet (services/upsampler/lite.py) is its own compiled graph."""
    if getattr(model, "length_multiple", None) is not None:
        return model
    if model not in _graphs:
        import tensorflow as tf

        held = weakref.ref(model)  # the graph must not keep its key alive
        _graphs[model] = tf.function(lambda inputs: held()(inputs, training=False),
                                     reduce_retracing=True)
    return _graphs[model]


def _run_model(model, chunks: np.ndarray, batch_size: int, cutoff_hz: float) -> np.ndarray:
    """chunks: [N, T] → residuals [N, T] (model output − input)."""
    out = np.empty_like(chunks)
    conditioned = is_conditioned(model)
    forward = _graph(model)
    for start in range(0, len(chunks), batch_size):
        batch = chunks[start : start + batch_size, :, None]
        if conditioned:
            cutoff = np.full((len(batch), 1), cutoff_hz, dtype=np.float32)
            result = forward([batch, cutoff])
        else:
            result = forward(batch)
        out[start : start + batch_size] = np.asarray(result)[..., 0]
    return remove_grid_tones(out - chunks, _length_multiple(model))


def remove_grid_tones(
    residuals: np.ndarray, period: int, window_periods: int = TONE_WINDOW_PERIODS
) -> np.ndarray:
    """residuals: [N, T] chunks starting on the model's stride grid → the same minus their
    `period`-periodic part, estimated per phase by a moving mean over `window_periods` periods
    (so a pattern whose level follows the speech goes too)."""
    from scipy.ndimage import uniform_filter1d

    out = np.array(residuals, dtype=np.float32, copy=True)
    whole = out.shape[1] - out.shape[1] % period
    if whole < 2 * period:
        return out
    phases = out[:, :whole].reshape(len(out), -1, period)  # a view: edited in place
    phases -= uniform_filter1d(phases, size=window_periods, axis=1, mode="nearest")
    return out


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
    batch_size: int = 1,
    cutoff_hz: float = DEFAULT_CUTOFF_HZ,
) -> np.ndarray:
    """interpolated: [T] at 48 kHz (the soxr-interpolated input) → [T] model output; a
    conditioned network is given `cutoff_hz`, an unconditioned one ignores it."""
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
    residuals = _run_model(model, chunks, batch_size, cutoff_hz)
    residual = np.zeros(padded_length, dtype=np.float32)
    for i, (start, res) in enumerate(zip(starts, residuals, strict=True)):
        residual[start : start + chunk] += res * _crossfade_window(
            chunk, overlap, first=i == 0, last=i == n_chunks - 1
        )
    return interpolated + residual[margin : n - margin]


def upsample(
    model,
    audio: np.ndarray,
    target_rate_hz: int = 48000,
    chunk_s: float = 4.0,
    overlap_s: float = 0.25,
    band_gains: tuple[float, ...] = RAW_GAINS,
    input_rate_hz: int = INPUT_RATE_HZ,
    cutoff_hz: float | None = None,
) -> np.ndarray:
    """audio: [n] float32 at `input_rate_hz` → [round(n × target / input rate)] float32.

    The input is interpolated to 48 kHz, the model's own rate, with soxr VHQ; any other target
    (44.1 kHz) resamples the 48 kHz result. `cutoff_hz` (default: the input's Nyquist) is where
    the input's band ends: a conditioned network is told it, and the residual's bands are cut
    relative to it (an unconditioned network's at 8 kHz). `band_gains` scale those bands
    (`apply_band_gains`); all 1.0 is the network's raw output.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    n_out = output_length(len(audio), input_rate_hz, target_rate_hz)
    if len(audio) == 0:
        return np.zeros(n_out, dtype=np.float32)
    cutoff_hz = float(input_rate_hz / 2 if cutoff_hz is None else cutoff_hz)
    interpolated = ResampleEngine().upsample(audio, input_rate_hz, MODEL_RATE_HZ)
    out_48k = upsample_48k(
        model, interpolated, chunk_s=chunk_s, overlap_s=overlap_s, cutoff_hz=cutoff_hz
    )
    if tuple(band_gains) != RAW_GAINS:
        # an unconditioned network's gains were calibrated on bands cut for an 8 kHz cutoff
        band_cutoff_hz = cutoff_hz if is_conditioned(model) else DEFAULT_CUTOFF_HZ
        out_48k = apply_band_gains(interpolated, out_48k, band_gains, band_cutoff_hz)
    if target_rate_hz != MODEL_RATE_HZ:
        out_48k = soxr.resample(out_48k, MODEL_RATE_HZ, target_rate_hz, quality="VHQ")
    return fit_length(np.asarray(out_48k, dtype=np.float32), n_out)


def band_edges_hz(cutoff_hz: float = DEFAULT_CUTOFF_HZ) -> tuple[float, ...]:
    return tuple(f * cutoff_hz for f in BAND_FRACTIONS)


def _band_of_each_bin(n: int, cutoff_hz: float) -> np.ndarray:
    """For each bin of an n-point rfft at 48 kHz, its band's index in `BAND_NAMES`."""
    freqs_hz = np.fft.rfftfreq(n, 1 / MODEL_RATE_HZ)
    return np.searchsorted(np.asarray(band_edges_hz(cutoff_hz)), freqs_hz, side="right")


def split_residual(
    interpolated: np.ndarray, output: np.ndarray, cutoff_hz: float = DEFAULT_CUTOFF_HZ
) -> list[np.ndarray]:
    """The predicted residual (output − interpolated) in the bands of `BAND_NAMES`, cut at
    `band_edges_hz(cutoff_hz)` by masks on one FFT of the whole residual; the bands sum to the
    residual.

    The residual is small and smooth, so the masks' circular ringing is far below it; callers
    that stream (stage.process_file) hand over blocks with context, which hides block edges.
    """
    residual = np.asarray(output - interpolated, dtype=np.float32)
    spectrum = np.fft.rfft(residual)
    band = _band_of_each_bin(len(residual), cutoff_hz)
    return [np.fft.irfft(np.where(band == b, spectrum, 0), n=len(residual)).astype(np.float32)
            for b in range(len(BAND_NAMES))]


def apply_band_gains(
    interpolated: np.ndarray,
    output: np.ndarray,
    gains: tuple[float, ...],
    cutoff_hz: float = DEFAULT_CUTOFF_HZ,
) -> np.ndarray:
    """interpolated + Σ gain_b · band_b(residual), bands as in `split_residual` — as one gain
    per FFT bin and one inverse FFT (the sum is linear: two FFTs instead of splitting's five).

    Invented high-band content has unpredictable phase: at full level it lowers waveform SNR
    while improving the spectrum, and the network's correction of the lower bands helps or
    hurts depending on how the input was band-limited. The gains are calibrated on validation
    files (`calibrate.calibrate_band_gains`) and shipped in the model card.
    """
    if len(gains) != len(BAND_NAMES):
        raise ValueError(f"need {len(BAND_NAMES)} band gains ({', '.join(BAND_NAMES)}), "
                         f"got {gains}")
    import scipy.fft

    residual = np.asarray(output - interpolated, dtype=np.float32)
    spectrum = scipy.fft.rfft(residual)  # single precision: the residual is far above its noise
    spectrum *= np.asarray(gains, np.float32)[_band_of_each_bin(len(residual), cutoff_hz)]
    gained = scipy.fft.irfft(spectrum, n=len(residual))
    return np.asarray(interpolated, dtype=np.float32) + gained
