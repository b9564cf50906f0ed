"""`speakup enhance --report report.png`: before/after waveforms and spectrograms per file.

Both sides are shown on one 0–24 kHz axis (the input is decoded and resampled to 48 kHz), so a
phone recording's missing top band and what the upsampler put back are visible side by side.
Only the first `MAX_SECONDS` of each file are drawn: a 2-hour podcast stays a picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

VIEW_RATE_HZ = 48_000
MAX_SECONDS = 60.0
MAX_FILES = 10  # a folder of ten test recordings fits in one picture
FFT_SIZE = 2048
HOP = 512
RANGE_DB = 80.0


def read_head(path: Path, seconds: float = MAX_SECONDS, rate_hz: int = VIEW_RATE_HZ) -> np.ndarray:
    """The first `seconds` of any recording PyAV opens, mono float32 at `rate_hz`."""
    import av

    wanted = int(seconds * rate_hz)
    chunks: list[np.ndarray] = []
    have = 0
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate_hz)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunk = out.to_ndarray().reshape(-1)
                chunks.append(chunk)
                have += len(chunk)
            if have >= wanted:
                break
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return audio[:wanted].astype(np.float32)


def spectrogram_db(audio: np.ndarray) -> np.ndarray:
    """Power in dB, ``[bins, frames]``, Hann window, relative to its own maximum."""
    if len(audio) < FFT_SIZE:
        audio = np.pad(audio, (0, FFT_SIZE - len(audio)))
    frames = np.lib.stride_tricks.sliding_window_view(audio, FFT_SIZE)[::HOP]
    power = np.abs(np.fft.rfft(frames * np.hanning(FFT_SIZE), axis=1)) ** 2
    db = 10 * np.log10(power.T + 1e-12)
    return np.maximum(db - db.max(), -RANGE_DB)


def _panel_title(side: str, metrics: dict[str, Any]) -> str:
    lufs = metrics.get("input_lufs" if side == "before" else "output_lufs")
    return f"{side}" + (f" · {lufs:.1f} LUFS" if isinstance(lufs, int | float) else "")


def write_report(files: list[tuple[Path, Path, dict[str, Any]]], dst: Path) -> Path:
    """One PNG: per file, a row of waveforms and a row of spectrograms (before | after)."""
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit: safe in workers and over ssh
    import matplotlib.pyplot as plt

    shown = files[:MAX_FILES]
    fig, axes = plt.subplots(2 * len(shown), 2, figsize=(12, 4.6 * len(shown)), squeeze=False,
                             layout="constrained",
                             gridspec_kw={"height_ratios": [1, 2] * len(shown)})
    for row, (src, out, metrics) in enumerate(shown):
        sides = {"before": read_head(src), "after": read_head(out)}
        peak = max(float(np.max(np.abs(a))) if len(a) else 0.0 for a in sides.values()) or 1.0
        for col, (side, audio) in enumerate(sides.items()):
            t = np.arange(len(audio)) / VIEW_RATE_HZ
            wave_ax, spec_ax = axes[2 * row, col], axes[2 * row + 1, col]
            wave_ax.plot(t, audio, linewidth=0.4, color="#5b3df5")
            wave_ax.set_ylim(-peak, peak)
            wave_ax.set_xlim(0, max(t[-1] if len(t) else 1.0, 1e-3))
            wave_ax.set_title(f"{src.name if side == 'before' else out.name} — "
                              f"{_panel_title(side, metrics)}", fontsize=10, loc="left")
            wave_ax.set_yticks([])
            db = spectrogram_db(audio)
            image = spec_ax.imshow(db, origin="lower", aspect="auto", cmap="magma",
                                   vmin=-RANGE_DB, vmax=0,
                                   extent=(0, len(audio) / VIEW_RATE_HZ, 0, VIEW_RATE_HZ / 2000))
            spec_ax.set_ylabel("kHz")
            spec_ax.set_xlabel("seconds")
        fig.colorbar(image, ax=axes[2 * row + 1, :].tolist(), label="dB", fraction=0.03, pad=0.01)
    if len(files) > MAX_FILES:
        fig.suptitle(f"first {MAX_FILES} of {len(files)} files", fontsize=10)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dst, dpi=100)
    plt.close(fig)
    return dst
