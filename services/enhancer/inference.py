"""Enhance a whole recording with a trained model: a pure function over numpy audio.

Long inputs run in chunks so memory stays flat in duration. Each chunk is computed with extra
context on both sides (half the receptive field, then discarded), and neighbouring chunks
overlap by a short crossfade. The crossfade weights are the squares of the equal-power pair
(sin², cos²): they sum to one, so two correlated chunk outputs add back to unit gain — an
identity model returns its input exactly.
"""

from __future__ import annotations

import numpy as np
import soxr
import torch
from torch import nn


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def chunk_starts(n: int, chunk: int, crossfade: int) -> list[int]:
    """Starts of chunks of length `chunk` (last one shorter) overlapping by `crossfade`."""
    hop = chunk - crossfade
    starts = [0]
    while starts[-1] + chunk < n:
        starts.append(starts[-1] + hop)
    return starts


def crossfade_weights(length: int, crossfade: int, first: bool, last: bool) -> np.ndarray:
    weights = np.ones(length, dtype=np.float64)
    ramp = np.sin(0.5 * np.pi * (np.arange(crossfade) + 0.5) / crossfade) ** 2
    if not first:
        weights[:crossfade] = ramp
    if not last:
        weights[-crossfade:] = ramp[::-1]
    return weights


@torch.inference_mode()
def enhance(model: nn.Module, audio: np.ndarray, sample_rate_hz: int,
            chunk_s: float | None = None, crossfade_s: float = 0.05,
            batch_size: int | None = None) -> np.ndarray:
    """audio: [T] float mono at `sample_rate_hz` → enhanced [T] float32, same rate and length.

    model: any family's network (HiFi-GAN's Enhancer, ErbNet): it says how much context a
    chunk needs (`context_samples()`), its chunk length (`serving_chunk_s`) and how many chunks
    to run at once (`serving_batch_size`, else 4), unless given.
    Runs on the model's device; resamples to the model's rate and back where they differ.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    n = len(audio)
    if n == 0:
        return audio.copy()
    model_rate = model.config.sample_rate_hz
    x = audio if sample_rate_hz == model_rate else soxr.resample(audio, sample_rate_hz,
                                                                 model_rate)
    chunk_s = chunk_s if chunk_s is not None else float(model.serving_chunk_s)
    if batch_size is None:
        batch_size = int(getattr(model, "serving_batch_size", 4))
    y = _enhance_at_model_rate(model, x, int(chunk_s * model_rate),
                               max(1, int(crossfade_s * model_rate)), batch_size)
    if sample_rate_hz != model_rate:
        y = soxr.resample(y, model_rate, sample_rate_hz)
        y = np.pad(y[:n], (0, max(0, n - len(y))))
    return y.astype(np.float32)


def _enhance_at_model_rate(model: nn.Module, x: np.ndarray, chunk: int, crossfade: int,
                           batch_size: int) -> np.ndarray:
    device = next(model.parameters()).device
    n = len(x)
    chunk = max(chunk, 2 * crossfade + 1)
    context = int(model.context_samples())
    # A frame-based network (STFT) gives the whole file's output only where a chunk's frames
    # sit where the whole file's do: chunk starts and context on multiples of the hop.
    hop = int(getattr(model, "hop_samples", 1))
    chunk, crossfade, context = (-(-v // hop) * hop for v in (chunk, crossfade, context))
    # A recording shorter than a chunk is one chunk of its own length (a 5 s clip in 30 s
    # chunks would otherwise compute 34 s of padding).
    chunk = max(min(chunk, -(-n // hop) * hop), 2 * crossfade + hop)
    padded = np.pad(x, (context, context + chunk))
    starts = chunk_starts(n, chunk, crossfade)
    out = np.zeros(n, dtype=np.float64)
    for i in range(0, len(starts), batch_size):
        group = starts[i:i + batch_size]
        windows = np.stack([padded[s:s + chunk + 2 * context] for s in group])
        batch = torch.from_numpy(windows)[:, None].to(device)
        enhanced = model(batch)[1][:, 0, context:context + chunk].float().cpu().numpy()
        for j, s in enumerate(group):
            length = min(chunk, n - s)
            weights = crossfade_weights(length, crossfade, first=s == 0,
                                        last=s + chunk >= n)
            out[s:s + length] += weights * enhanced[j, :length]
    return out.astype(np.float32)
