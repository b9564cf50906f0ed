"""DNSMOS P.835 (Reddy, Gopal & Cutler 2022): SIG, BAK and OVRL of 16 kHz speech, reference-free.

The ONNX model ships in the `speechmos` wheel; it is run here with onnxruntime alone. Importing
`speechmos.dnsmos` would pull in librosa (numba, llvmlite) for the P.808 model, which this
report does not use; the P.835 network takes the waveform itself. The polynomial mapping of the
raw outputs is speechmos' (non-personalised), so scores equal `speechmos.dnsmos.run`'s (tested).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

RATE_HZ = 16000
WINDOW_SAMPLES = int(9.01 * RATE_HZ)  # the model's fixed input: 144,160 samples
_POLY_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_POLY_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_POLY_OVRL = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


def model_path() -> Path:
    spec = importlib.util.find_spec("speechmos")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("speechmos is not installed (pip install speechmos)")
    return Path(list(spec.submodule_search_locations)[0], "dnsmos_models", "sig_bak_ovr.onnx")


@functools.cache
def _session() -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One thread: the report runs beside nothing else in its worker process, and a second
    # thread measured slower on two shared cores.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    # No memory arena: a 9 s window's activations (~130 MiB) go back after each run instead of
    # staying reserved for the worker's lifetime (peak 194 vs 250 MiB, RSS after 93 vs 250).
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    return ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])


def warm_up() -> None:
    """Load the model now (worker start), not during the first job."""
    _session()


def fit_window(audio: np.ndarray) -> np.ndarray:
    """One model input from ``audio`` [T] at 16 kHz: repeated while shorter than 9.01 s (as
    speechmos does), cut to 9.01 s, clipped to ±1."""
    x = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32)), -1.0, 1.0)
    if not len(x):
        x = np.zeros(1, np.float32)
    while len(x) < WINDOW_SAMPLES:
        x = np.concatenate([x, x])
    return x[:WINDOW_SAMPLES]


def score(windows: list[np.ndarray]) -> dict[str, float]:
    """Mean SIG, BAK, OVRL (1..5, higher is better) over 16 kHz windows (each as `fit_window`
    makes it; shorter ones are fitted here)."""
    if not windows:
        raise ValueError("nothing to score")
    session = _session()
    sig, bak, ovrl = [], [], []
    for window in windows:
        x = fit_window(window)[None, :]
        raw_sig, raw_bak, raw_ovrl = session.run(None, {"input_1": x})[0][0]
        sig.append(float(_POLY_SIG(raw_sig)))
        bak.append(float(_POLY_BAK(raw_bak)))
        ovrl.append(float(_POLY_OVRL(raw_ovrl)))
    return {"sig": float(np.mean(sig)), "bak": float(np.mean(bak)), "ovrl": float(np.mean(ovrl))}


def available() -> bool:
    try:
        return model_path().is_file() and importlib.util.find_spec("onnxruntime") is not None
    except ModuleNotFoundError:
        return False

