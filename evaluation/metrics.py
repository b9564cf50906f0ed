"""Speech-quality metrics, one pure function each, on float mono numpy arrays.

Paired (need the clean reference): SI-SDR, SNR, PESQ-WB, STOI/ESTOI, log-spectral distance.
Reference-free: DNSMOS P.835 (speechmos, ONNX weights ship in the wheel), integrated loudness
and true peak. Every function takes `reference` first and `estimate` second, trims both to the
shorter length, and never modifies its inputs.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

_EPS = 1e-12
PESQ_RATE_HZ = 16_000
DNSMOS_RATE_HZ = 16_000


def _pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    est = np.asarray(estimate, dtype=np.float64).reshape(-1)
    n = min(len(ref), len(est))
    return ref[:n], est[:n]


def resample(audio: np.ndarray, rate_hz: int, target_rate_hz: int) -> np.ndarray:
    """Band-limited resampling (soxr, high quality); a copy when the rates already agree."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if rate_hz == target_rate_hz:
        return audio.copy()
    import soxr

    return soxr.resample(audio, rate_hz, target_rate_hz, quality="HQ").astype(np.float32)


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019), zero-mean."""
    ref, est = _pair(reference, estimate)
    ref = ref - ref.mean()
    est = est - est.mean()
    scale = np.dot(est, ref) / (np.dot(ref, ref) + _EPS)
    target = scale * ref
    residual = est - target
    return float(
        10 * np.log10((np.dot(target, target) + _EPS) / (np.dot(residual, residual) + _EPS))
    )


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Plain SNR in dB: reference energy over the energy of (estimate - reference)."""
    ref, est = _pair(reference, estimate)
    error = est - ref
    return float(10 * np.log10((np.dot(ref, ref) + _EPS) / (np.dot(error, error) + _EPS)))


def pesq_wb(reference: np.ndarray, estimate: np.ndarray, sample_rate_hz: int = 16_000) -> float:
    """Wide-band PESQ (ITU-T P.862.2) MOS-LQO, 1.04..4.64; NaN when PESQ finds no speech.

    Other rates are resampled to 16 kHz first, as P.862.2 is defined there.
    """
    from pesq import NoUtterancesError, PesqError
    from pesq import pesq as _pesq

    ref, est = _pair(
        resample(reference, sample_rate_hz, PESQ_RATE_HZ),
        resample(estimate, sample_rate_hz, PESQ_RATE_HZ),
    )
    if not (np.any(ref) and np.any(est)):  # silence: pesq would divide by a zero peak
        return math.nan
    try:
        return float(_pesq(PESQ_RATE_HZ, ref, est, "wb"))
    except (NoUtterancesError, PesqError):
        return math.nan


def stoi(
    reference: np.ndarray, estimate: np.ndarray, sample_rate_hz: int, extended: bool = False
) -> float:
    """Short-time objective intelligibility (Taal 2011) or, with `extended`, ESTOI (Jensen 2016)."""
    from pystoi import stoi as _stoi

    ref, est = _pair(reference, estimate)
    return float(_stoi(ref, est, sample_rate_hz, extended=extended))


def _fft_size(sample_rate_hz: int) -> int:
    # about 43 ms frames at any rate: 2048 points at 48 kHz (the usual super-resolution setting),
    # 512 at 16 kHz
    return int(2 ** round(math.log2(0.0427 * sample_rate_hz)))


def log_spectral_distance(
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate_hz: int,
    band_hz: tuple[float, float] | None = None,
) -> float:
    """Log-spectral distance in dB: per STFT frame, the RMS over frequency of the difference of
    the two power spectra in dB; then the mean over frames. 0 for identical signals.

    `band_hz=(low, high)` keeps only bins in that band (e.g. (8000, 24000) at 48 kHz judges the
    band a super-resolution model had to invent). Powers are floored 80 dB below the reference's
    peak bin so silent regions do not dominate.
    """
    from scipy.signal import stft as _stft

    ref, est = _pair(reference, estimate)
    n_fft = _fft_size(sample_rate_hz)
    if len(ref) < n_fft:
        raise ValueError(f"need at least {n_fft} samples for LSD, got {len(ref)}")
    freqs_hz, _, ref_spec = _stft(ref, sample_rate_hz, nperseg=n_fft, noverlap=n_fft * 3 // 4)
    _, _, est_spec = _stft(est, sample_rate_hz, nperseg=n_fft, noverlap=n_fft * 3 // 4)
    ref_power = np.abs(ref_spec) ** 2
    est_power = np.abs(est_spec) ** 2
    if band_hz is not None:
        keep = (freqs_hz >= band_hz[0]) & (freqs_hz <= band_hz[1])
        if not keep.any():
            raise ValueError(f"band {band_hz} Hz holds no STFT bin at {sample_rate_hz} Hz")
        ref_power, est_power = ref_power[keep], est_power[keep]
    floor = max(float(np.abs(ref_spec).max() ** 2) * 1e-8, _EPS)
    diff_db = 10 * np.log10(np.maximum(ref_power, floor)) - 10 * np.log10(
        np.maximum(est_power, floor)
    )
    per_frame = np.sqrt(np.mean(diff_db**2, axis=0))
    return float(per_frame.mean())


# ---- reference-free -------------------------------------------------------------------------


_onnx_threads = 2


def set_onnx_threads(n: int) -> None:
    """Threads for the DNSMOS sessions (1 in each worker when metrics run in parallel)."""
    global _onnx_threads
    _onnx_threads = max(1, int(n))
    _dnsmos_model.cache_clear()


@functools.cache
def _dnsmos_model() -> Any:
    """speechmos' DNSMOS P.835 + P.808 models. The sessions are built here rather than by
    `speechmos.dnsmos.run` to pin the thread count (two at most: metrics run between the timed
    enhance calls, never beside them)."""
    import os

    import onnxruntime as ort
    from speechmos import dnsmos as _dnsmos

    models_dir = os.path.join(os.path.dirname(_dnsmos.__file__), "dnsmos_models")
    options = ort.SessionOptions()
    options.intra_op_num_threads = min(_onnx_threads, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    model = _dnsmos.DNSMOS.__new__(_dnsmos.DNSMOS)
    model.primary_model_path = os.path.join(models_dir, "sig_bak_ovr.onnx")
    model.onnx_sess = ort.InferenceSession(
        model.primary_model_path, options, providers=["CPUExecutionProvider"]
    )
    model.p808_onnx_sess = ort.InferenceSession(
        os.path.join(models_dir, "model_v8.onnx"), options, providers=["CPUExecutionProvider"]
    )
    return model


def dnsmos(audio: np.ndarray, sample_rate_hz: int) -> dict[str, float]:
    """DNSMOS P.835 (Reddy et al. 2022) of one recording: keys dnsmos_ovrl, dnsmos_sig,
    dnsmos_bak (1..5, higher is better) and dnsmos_p808. Runs offline; resamples to 16 kHz."""
    x = np.clip(resample(audio, sample_rate_hz, DNSMOS_RATE_HZ), -1.0, 1.0)
    scores = _dnsmos_model()(x, DNSMOS_RATE_HZ, False)
    return {
        "dnsmos_ovrl": float(scores["ovrl_mos"]),
        "dnsmos_sig": float(scores["sig_mos"]),
        "dnsmos_bak": float(scores["bak_mos"]),
        "dnsmos_p808": float(scores["p808_mos"]),
    }


reference_free_score = dnsmos


def loudness_lufs(audio: np.ndarray, sample_rate_hz: int) -> float:
    """Integrated loudness, ITU-R BS.1770-4, with the product's own meter; -inf for silence."""
    from shared.audio.loudness import integrated_lufs

    return float(integrated_lufs(audio, sample_rate_hz))


def true_peak_dbtp(audio: np.ndarray, sample_rate_hz: int) -> float:
    """True peak in dBTP (4x oversampled, BS.1770-4 annex 2), with the product's own meter."""
    from shared.audio.loudness import true_peak_dbtp as _true_peak_dbtp

    return float(_true_peak_dbtp(audio, sample_rate_hz))
