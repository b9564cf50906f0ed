"""Super-resolution evaluation: `python -m evaluation.sr [--data-dir ...] [--checkpoint ...]`.

Held-out speakers' full-band recordings (shared/datasplit.py: `clean/` and the held-out RAVDESS
actors of `fullband_ravdess/`), trimmed of leading and trailing digital silence, are
band-limited to 16 kHz with each input filter of services.upsampler.inputs.EVAL_FILTERS (soxr,
Butterworth, Chebyshev, an MP3-like brick wall) and brought back to 48 kHz by every upsampler
engine (`resample`, `unet` where a checkpoint is installed or given, and its raw network
output where the card calibrated band gains), and cubic-spline interpolation (the paper's
baseline). A conditioned U-Net is given each input's cutoff as the chain measures it.

Scores, reference and estimate both as 16-bit PCM (services/upsampler/sr_metrics.py):
- LSD and LSD 8–24 kHz as haoheliu/ssr_eval defines it (log10 units), the target;
- SNR (dB), reported beside it;
- tonal lines: fixed tones in 8–24 kHz the reference lacks (the artefact check);
- our older LSD (dB; 43 ms frames, 75 % overlap, floor 80 dB under the reference's peak), so
  figures stay comparable with the model cards before issue 15;
- the real-time factor, all engines in the same run.
The "reference set" rows average the soxr and Chebyshev inputs: issue 15's set (16 kHz inputs
made alternately by soxr and a Chebyshev low-pass). JSON + markdown in benchmarks/results/.
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

from evaluation.metrics import log_spectral_distance
from services.upsampler import data, engines, inputs
from services.upsampler.inference import DEFAULT_CUTOFF_HZ, RAW_GAINS
from services.upsampler.sr_metrics import (
    lsd_bands,
    snr_db,
    to_pcm16,
    tonal_lines,
    trim_digital_silence,
)

RATE_HZ = 48000
HIGH_BAND_HZ = (8000.0, 24000.0)
REFERENCE_SET = ("soxr", "chebyshev")
SCORES = ("lsd", "lsd_high", "snr_db", "lines", "lsd_db", "lsd_high_db")
REPO_ROOT = Path(__file__).resolve().parents[1]
Engine = Callable[[np.ndarray, float], np.ndarray]  # (audio_16k, cutoff_hz) → audio_48k


def cubic_spline(audio_16k: np.ndarray) -> np.ndarray:
    """Kuleshov et al.'s input: a cubic spline through the 16 kHz samples, read at 48 kHz."""
    n_out = engines.output_length(len(audio_16k), inputs.LOW_RATE_HZ, RATE_HZ)
    spline = CubicSpline(np.arange(len(audio_16k)), audio_16k)
    return spline(np.arange(n_out) * inputs.LOW_RATE_HZ / RATE_HZ).astype(np.float32)


def build_engines(checkpoint: str | None) -> dict[str, Engine]:
    """name → function(audio_16k, cutoff_hz) → audio_48k."""
    low = inputs.LOW_RATE_HZ
    resample = engines.get("resample")
    table: dict[str, Engine] = {"resample": lambda a, c: resample.upsample(a, low, RATE_HZ)}
    unet = None
    if checkpoint:
        from services.upsampler.unet_engine import UNetEngine

        unet = UNetEngine(checkpoint)
    elif "unet" in engines.names():
        unet = engines.get("unet")
    if unet is not None:
        table["unet"] = lambda a, c, e=unet: e.upsample(a, low, RATE_HZ, cutoff_hz=c)
        if unet.band_gains != RAW_GAINS:
            from services.upsampler.inference import upsample

            # the network's raw output too, to show what the calibrated gains trade away
            table["unet_raw"] = lambda a, c, m=unet.model: upsample(m, a, RATE_HZ, cutoff_hz=c)
    table["cubic"] = lambda a, c: cubic_spline(a)
    return table


def score(reference: np.ndarray, estimate: np.ndarray) -> dict[str, float]:
    """Every score of one estimate; both [T] at 48 kHz, already 16-bit PCM values."""
    lsd_full, lsd_high = lsd_bands(reference, estimate, RATE_HZ, (0.0, HIGH_BAND_HZ[0]))
    lines = tonal_lines(reference, estimate, RATE_HZ, HIGH_BAND_HZ)
    return {
        "lsd": lsd_full,
        "lsd_high": lsd_high,
        "snr_db": snr_db(reference, estimate),
        "lines": lines["lines"],
        "line_freqs_hz": lines["line_freqs_hz"],
        "lsd_db": log_spectral_distance(reference, estimate, RATE_HZ),
        "lsd_high_db": log_spectral_distance(reference, estimate, RATE_HZ, band_hz=HIGH_BAND_HZ),
    }


def evaluate(data_dir: Path, checkpoint: str | None) -> dict:
    files = data.full_band_files(data_dir, eval_speakers=True)
    table = build_engines(checkpoint)
    for run in table.values():  # warm-up (graph tracing, allocations) outside the timing
        run(np.zeros(16000, dtype=np.float32), DEFAULT_CUTOFF_HZ)
    rows: list[dict] = []
    seconds: dict[str, float] = {name: 0.0 for name in table}
    audio_s = 0.0
    for path in files:
        target = trim_digital_silence(data.read_full_band(path))
        target = target[: len(target) - len(target) % 3]
        reference = to_pcm16(target)
        for filter_name, params in inputs.EVAL_FILTERS.items():
            low = inputs.degrade_to_16k(target, params)
            # what the chain passes: the input's measured band, at most the 16 kHz Nyquist
            cutoff_hz = min(inputs.measure_cutoff_hz(low, inputs.LOW_RATE_HZ), DEFAULT_CUTOFF_HZ)
            audio_s += len(low) / inputs.LOW_RATE_HZ
            for name, run in table.items():
                started = time.perf_counter()
                estimate = run(low, cutoff_hz)
                seconds[name] += time.perf_counter() - started
                assert len(estimate) == len(target), (name, len(estimate), len(target))
                rows.append({"file": data.relative_name(path, data_dir), "filter": filter_name,
                             "engine": name, "cutoff_hz": cutoff_hz,
                             **score(reference, to_pcm16(estimate))})
    return {
        "files": [data.relative_name(p, data_dir) for p in files],
        "audio_s_per_engine": audio_s,
        "rtf": {name: s / audio_s for name, s in seconds.items()},
        "rows": rows,
        "summary": summarise(rows),
        "reference_set_by_folder": by_folder(rows),
    }


def summarise(rows: list[dict]) -> dict:
    """Mean of every score per (engine, filter), over the reference set and over all filters;
    `lines` is the mean count per item, `items_with_lines` the share of items with any."""
    summary: dict = {}
    filters = [*dict.fromkeys(r["filter"] for r in rows)]
    groups = {f: (f,) for f in filters}
    if all(f in filters for f in REFERENCE_SET):
        groups["reference set"] = REFERENCE_SET
    groups["all"] = tuple(filters)
    for engine in dict.fromkeys(r["engine"] for r in rows):
        summary[engine] = {}
        for group, members in groups.items():
            chosen = [r for r in rows if r["engine"] == engine and r["filter"] in members]
            means = {key: float(np.mean([r[key] for r in chosen])) for key in SCORES}
            means["items_with_lines"] = float(np.mean([r["lines"] > 0 for r in chosen]))
            means["items"] = len(chosen)
            summary[engine][group] = means
    return summary


def by_folder(rows: list[dict]) -> dict:
    """The reference set's means per source folder (clean/ is the kind of set issue 15
    measured on; RAVDESS is two sentences from four actors): folder → engine → scores."""
    folders = dict.fromkeys(r["file"].split("/")[0] for r in rows)
    return {
        folder: {
            engine: per_group["reference set"]
            for engine, per_group in summarise(
                [r for r in rows if r["file"].startswith(folder + "/")]
            ).items()
            if "reference set" in per_group
        }
        for folder in folders
    }


def markdown(result: dict) -> str:
    summary, rtf = result["summary"], result["rtf"]
    lines = [
        "# Super-resolution 16 kHz → 48 kHz, held-out speakers",
        "",
        f"{len(result['files'])} full-band files of held-out speakers "
        f"({result.get('set', '')}), each band-limited with 4 input filters; mean over files. "
        "LSD as haoheliu/ssr_eval defines it (log10 units; reference and estimate as 16-bit "
        "PCM), the target; SNR in dB beside it. Tonal lines: fixed tones in 8–24 kHz the "
        "reference lacks, per file (share of files with any). Old LSD: our dB definition of "
        "the earlier model cards. RTF: processing time / audio duration on this machine "
        f"({result['threads']} TF threads, {result['machine']}). \"reference set\": mean of the "
        "soxr and Chebyshev inputs (issue 15's set).",
        "",
        "| filter | engine | LSD | LSD 8–24 kHz | SNR dB | tonal lines | old LSD dB "
        "| old LSD 8–24 kHz dB | RTF |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for group in summary["resample"]:
        for engine, per_group in summary.items():
            m = per_group[group]
            bold = "**" if group in ("reference set", "all") else ""
            lines.append(
                f"| {bold}{group}{bold} | {engine} | {m['lsd']:.3f} | {m['lsd_high']:.3f} "
                f"| {m['snr_db']:.2f} | {m['lines']:.2f} ({100 * m['items_with_lines']:.0f} %) "
                f"| {m['lsd_db']:.2f} | {m['lsd_high_db']:.2f} "
                f"| {rtf.get(engine, float('nan')):.4f} |"
            )
    folders = result.get("reference_set_by_folder", {})
    if folders:
        lines += ["", "Reference set (soxr and Chebyshev inputs) by source folder:", "",
                  "| folder | files | engine | LSD | LSD 8–24 kHz | SNR dB | tonal lines |",
                  "|---|---|---|---|---|---|---|"]
        for folder, per_engine in folders.items():
            for engine, m in per_engine.items():
                lines.append(
                    f"| {folder} | {m['items'] // 2} | {engine} | {m['lsd']:.3f} "
                    f"| {m['lsd_high']:.3f} | {m['snr_db']:.2f} "
                    f"| {m['lines']:.2f} ({100 * m['items_with_lines']:.0f} %) |"
                )
    lines += ["", f"Checkpoint: {result['checkpoint']}", ""]
    return "\n".join(lines)


def describe_set(files: list[str]) -> str:
    ravdess = [f for f in files if f.startswith("fullband_ravdess/")]
    actors = sorted({f.split("__")[1] for f in ravdess})
    return (f"{len(files) - len(ravdess)} from clean/, {len(ravdess)} RAVDESS clips of "
            f"held-out {', '.join(actors)}")


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
    result["set"] = describe_set(result["files"])
    result["threads"] = args.threads
    result["machine"] = f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}"
    result["checkpoint"] = args.checkpoint or (
        str(engines.get("unet").path) if "unet" in engines.names() else None
    )
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{args.name}.json").write_text(to_json(result))
    (out_dir / f"{args.name}.md").write_text(markdown(result))
    if args.card:
        record_in_card(Path(args.card), result, f"python -m evaluation.sr --threads {args.threads}")
    print(markdown(result))


def to_json(result: dict) -> str:
    """The result as JSON, one row per line (thousands of rows), scores to 4 decimals."""
    head = json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1)
    rows = [
        json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
        for row in result["rows"]
    ]
    return head[:-2] + ',\n "rows": [\n  ' + ",\n  ".join(rows) + "\n ]\n}\n"


def record_in_card(card_path: Path, result: dict, command: str) -> None:
    card = json.loads(card_path.read_text())
    card["evaluation"] = {
        "set": f"held-out speakers, {len(result['files'])} full-band files "
        f"({result['set']}) x 4 input filters",
        "command": command,
        "rtf": result["rtf"],
        "machine": result["machine"],
        "threads": result["threads"],
        "summary": result["summary"],
    }
    card_path.write_text(json.dumps(card, indent=1))


if __name__ == "__main__":
    main()
