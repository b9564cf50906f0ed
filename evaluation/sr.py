"""Super-resolution evaluation: `python -m evaluation.sr [--data-dir ...] [--checkpoint ...]`.

Held-out speakers' full-band recordings (shared/datasplit.py) are band-limited to 16 kHz with each
input filter of services.upsampler.data.EVAL_FILTERS (soxr, Butterworth, Chebyshev, MP3-like
brick wall) and brought back to 48 kHz by every upsampler engine (`resample`, `unet` where a
checkpoint is installed or given), cubic-spline interpolation (the paper's baseline) and the
clean reference itself. Reports log-spectral distance (full band and 8–24 kHz), SNR and the
real-time factor, all engines in the same run, as JSON + markdown in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline

from evaluation.metrics import log_spectral_distance, snr_db
from services.upsampler import data, engines
from services.upsampler.inference import RAW_GAINS

RATE_HZ = 48000
HIGH_BAND_HZ = (8000.0, 24000.0)
REPO_ROOT = Path(__file__).resolve().parents[1]


def cubic_spline(audio_16k: np.ndarray) -> np.ndarray:
    """Kuleshov et al.'s input: a cubic spline through the 16 kHz samples, read at 48 kHz."""
    n_out = engines.output_length(len(audio_16k), data.LOW_RATE_HZ, RATE_HZ)
    spline = CubicSpline(np.arange(len(audio_16k)), audio_16k)
    return spline(np.arange(n_out) * data.LOW_RATE_HZ / RATE_HZ).astype(np.float32)


def build_engines(checkpoint: str | None) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """name → function(audio_16k) → audio_48k."""
    table: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    chosen: dict[str, object] = {"resample": engines.get("resample")}
    if checkpoint:
        from services.upsampler.unet_engine import UNetEngine

        chosen["unet"] = UNetEngine(checkpoint)
    elif "unet" in engines.names():
        chosen["unet"] = engines.get("unet")
    for name, engine in chosen.items():
        table[name] = lambda audio, e=engine: e.upsample(audio, data.LOW_RATE_HZ, RATE_HZ)
    unet = chosen.get("unet")
    if unet is not None and unet.band_gains != RAW_GAINS:
        from services.upsampler.inference import upsample

        # the network's raw output too, to show what the calibrated gains trade away
        table["unet_raw"] = lambda audio, m=unet.model: upsample(m, audio, RATE_HZ)
    table["cubic"] = cubic_spline
    return table


def score(reference: np.ndarray, estimate: np.ndarray) -> dict[str, float]:
    return {
        "lsd_db": log_spectral_distance(reference, estimate, RATE_HZ),
        "lsd_high_db": log_spectral_distance(reference, estimate, RATE_HZ, band_hz=HIGH_BAND_HZ),
        "snr_db": snr_db(reference, estimate),
    }


def evaluate(data_dir: Path, checkpoint: str | None) -> dict:
    files = data.full_band_files(data_dir, eval_speakers=True)
    table = build_engines(checkpoint)
    for run in table.values():  # warm-up (graph tracing, allocations) outside the timing
        run(np.zeros(16000, dtype=np.float32))
    rows: list[dict] = []
    seconds: dict[str, float] = {name: 0.0 for name in table}
    audio_s = 0.0
    for path in files:
        target = data.read_full_band(path)
        target = target[: len(target) - len(target) % 3]
        for filter_name, params in data.EVAL_FILTERS.items():
            low = data.degrade_to_16k(target, params)
            audio_s += len(low) / data.LOW_RATE_HZ
            for name, run in table.items():
                started = time.perf_counter()
                estimate = run(low)
                seconds[name] += time.perf_counter() - started
                assert len(estimate) == len(target), (name, len(estimate), len(target))
                rows.append(
                    {
                        "file": path.name,
                        "filter": filter_name,
                        "engine": name,
                        **score(target, estimate),
                    }
                )
            rows.append(
                {
                    "file": path.name,
                    "filter": filter_name,
                    "engine": "clean",
                    "lsd_db": 0.0,
                    "lsd_high_db": 0.0,
                    "snr_db": None,
                }
            )
    return {
        "files": [p.name for p in files],
        "audio_s_per_engine": audio_s,
        "rtf": {name: s / audio_s for name, s in seconds.items()},
        "rows": rows,
        "summary": summarise(rows),
    }


def summarise(rows: list[dict]) -> dict:
    """Mean per (engine, filter) and over all filters, plus the difference to `resample`."""
    summary: dict = {}
    engines_seen = list(dict.fromkeys(r["engine"] for r in rows))
    filters = [*dict.fromkeys(r["filter"] for r in rows), "all"]
    for engine in engines_seen:
        summary[engine] = {}
        for filter_name in filters:
            chosen = [
                r
                for r in rows
                if r["engine"] == engine and (filter_name == "all" or r["filter"] == filter_name)
            ]
            summary[engine][filter_name] = {
                key: (
                    None
                    if any(r[key] is None for r in chosen)
                    else float(np.mean([r[key] for r in chosen]))
                )
                for key in ("lsd_db", "lsd_high_db", "snr_db")
            }
    return summary


def markdown(result: dict) -> str:
    summary, rtf = result["summary"], result["rtf"]
    lines = [
        "# Super-resolution 16 kHz → 48 kHz, held-out speakers",
        "",
        f"{len(result['files'])} full-band files of held-out speakers, each band-limited with 4 "
        "input filters; mean over files. LSD in dB (lower is better), SNR in dB (higher is "
        "better). RTF: processing time / audio duration on this machine "
        f"({result['threads']} TF threads, {result['machine']}).",
        "",
        "| filter | engine | LSD | LSD 8–24 kHz | SNR | ΔLSD vs resample | ΔSNR vs resample "
        "| RTF |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for filter_name in summary["resample"]:
        base = summary["resample"][filter_name]
        for engine, per_filter in summary.items():
            m = per_filter[filter_name]
            snr = "∞" if m["snr_db"] is None else f"{m['snr_db']:.2f}"
            d_snr = "" if m["snr_db"] is None else f"{m['snr_db'] - base['snr_db']:+.3f}"
            lines.append(
                f"| {filter_name} | {engine} | {m['lsd_db']:.2f} | {m['lsd_high_db']:.2f} | {snr} "
                f"| {m['lsd_db'] - base['lsd_db']:+.2f} | {d_snr} "
                f"| {rtf.get(engine, float('nan')):.4f} |"
            )
    lines += ["", f"Checkpoint: {result['checkpoint']}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="super-resolution evaluation")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("SPEAKUP_DATA_DIR", str(REPO_ROOT.parent / "shared" / "data")),
    )
    parser.add_argument("--checkpoint", default=None, help="a .keras file (default: installed)")
    parser.add_argument("--out-dir", default=str(REPO_ROOT / "benchmarks" / "results"))
    parser.add_argument("--name", default="sr_results")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--card",
        default=None,
        help="a model card (card.json) to record the summary in: the `auto` engine choice reads it",
    )
    args = parser.parse_args(argv)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    result = evaluate(Path(args.data_dir), args.checkpoint)
    result["threads"] = args.threads
    result["machine"] = f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}"
    result["checkpoint"] = args.checkpoint or (
        str(engines.get("unet").path) if "unet" in engines.names() else None
    )
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{args.name}.json").write_text(json.dumps(result, indent=1))
    (out_dir / f"{args.name}.md").write_text(markdown(result))
    if args.card:
        record_in_card(Path(args.card), result, f"python -m evaluation.sr --threads {args.threads}")
    print(markdown(result))


def record_in_card(card_path: Path, result: dict, command: str) -> None:
    card = json.loads(card_path.read_text())
    card["evaluation"] = {
        "set": f"held-out speakers, {len(result['files'])} full-band files x 4 input filters",
        "command": command,
        "rtf": result["rtf"],
        "machine": result["machine"],
        "threads": result["threads"],
        "summary": result["summary"],
    }
    card_path.write_text(json.dumps(card, indent=1))


if __name__ == "__main__":
    main()
