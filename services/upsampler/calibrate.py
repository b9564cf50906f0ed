"""Band-gain calibration and export of a trained U-Net (`python -m services.upsampler.train
--run-dir ... --export-dir models/unet`): the network's residual is added in four bands
(inference.BAND_NAMES), each with a gain chosen on the training speakers' validation files so
LSD falls while SNR, averaged over the evaluation filters, does not.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

# residual gains tried per band (inference.BAND_NAMES)
BAND_GAIN_GRID = (
    (0.0, 1.0),
    (0.0, 0.5, 1.0, 1.5),
    (0.0, 0.5, 1.0, 1.5, 2.0, 3.0),
    (0.0, 0.05, 0.1, 0.12, 0.15, 0.17, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0),
)
GAINS = tuple(itertools.product(*BAND_GAIN_GRID))


def passes_snr_rules(
    margins_db: list[float], max_filter_loss_db: float, min_mean_gain_db: float
) -> bool:
    """margins_db: SNR over resample's, one per filter type."""
    return bool(np.mean(margins_db) >= min_mean_gain_db and min(margins_db) >= -max_filter_loss_db)


def calibrate_band_gains(
    model, val_files: list[Path], max_filter_loss_db: float = 0.0, min_mean_gain_db: float = 0.0
) -> tuple[tuple[float, ...], dict]:
    """The residual band gains of lowest mean LSD whose validation SNR, averaged over the
    evaluation filter types, beats resample's by at least `min_mean_gain_db`, and no filter
    type's falls by more than `max_filter_loss_db` (`choose_band_gains`).

    Runs on the training speakers' validation files only, never on evaluation speakers. Returns
    the gains and a table filter → gains ("g1,g2,...") → [mean LSD dB, mean SNR dB]; LSD is
    measured only for gains whose SNR qualifies (null otherwise: they cannot be chosen).
    """
    from evaluation.metrics import log_spectral_distance, snr_db
    from services.upsampler import data
    from services.upsampler.inference import MODEL_RATE_HZ as RATE
    from services.upsampler.inference import split_residual, upsample_48k

    cases = []  # (filter name, target, resample output, residual bands)
    for path in val_files:
        target = data.read_full_band(path)
        target = target[: len(target) - len(target) % 3]
        for name, params in data.EVAL_FILTERS.items():
            base = data.interpolate_to_48k(data.degrade_to_16k(target, params))
            cases.append((name, target, base, split_residual(base, upsample_48k(model, base))))

    def estimate(base, bands, gains):
        return base + sum(np.float32(g) * b for g, b in zip(gains, bands, strict=True))

    filters = list(dict.fromkeys(c[0] for c in cases))
    # SNR for every gain first (cheap), then LSD for the gains that pass the SNR rules
    snr: dict[object, dict[str, float]] = {
        "resample": {
            f: float(np.mean([snr_db(t, b) for n, t, b, _ in cases if n == f])) for f in filters
        }
    }
    for g in GAINS:
        snr[g] = {
            f: float(np.mean([snr_db(t, estimate(b, bs, g)) for n, t, b, bs in cases if n == f]))
            for f in filters
        }
    means: dict[str, dict] = {f: {} for f in filters}
    for g, per_filter in snr.items():
        margins = [per_filter[f] - snr["resample"][f] for f in filters]
        qualifies = g == "resample" or passes_snr_rules(
            margins, max_filter_loss_db, min_mean_gain_db
        )
        for f in filters:
            lsd = (
                np.mean(
                    [
                        log_spectral_distance(t, b if g == "resample" else estimate(b, bs, g), RATE)
                        for n, t, b, bs in cases
                        if n == f
                    ]
                )
                if qualifies
                else np.nan
            )
            means[f][g] = np.array([lsd, per_filter[f]])
    table = {
        name: {
            g if isinstance(g, str) else ",".join(f"{x:g}" for x in g): [
                None if np.isnan(v) else round(float(v), 3) for v in m
            ]
            for g, m in per_filter.items()
        }
        for name, per_filter in means.items()
    }
    return choose_band_gains(means, max_filter_loss_db, min_mean_gain_db), table


def choose_band_gains(
    means: dict[str, dict], max_filter_loss_db: float = 0.0, min_mean_gain_db: float = 0.0
) -> tuple[float, ...]:
    """means: filter → {"resample" or gains tuple → (mean LSD dB, mean SNR dB)}. The gains of
    lowest LSD (averaged over filters) whose SNR margin over resample, averaged over filters, is
    ≥ min_mean_gain_db and on no filter below −max_filter_loss_db; else all-zero gains
    (plain resampling)."""

    def snr_margins_db(g: tuple[float, ...]) -> list[float]:
        return [float(m[g][1] - m["resample"][1]) for m in means.values()]

    def mean_lsd_db(g: tuple[float, ...]) -> float:
        return float(np.mean([m[g][0] for m in means.values()]))

    candidates = [g for g in next(iter(means.values())) if g != "resample"]
    ok = [
        g
        for g in candidates
        if passes_snr_rules(snr_margins_db(g), max_filter_loss_db, min_mean_gain_db)
    ]
    zero = tuple(0.0 for _ in candidates[0])
    return min(ok, key=mean_lsd_db) if ok else zero


def export(args: argparse.Namespace) -> None:
    """Save a checkpoint (without optimizer state) to `--export-dir` as unet.keras with
    card.json (config, data, cost, training steps and wall time, calibrated band gains)."""

    from services.upsampler.inference import BAND_NAMES
    from services.upsampler.model import UNetConfig, cost_per_audio_second
    from services.upsampler.unet_engine import load_model

    run_dir = Path(args.run_dir)
    best = run_dir / "best.keras"  # absent while no checkpoint kept SNR ≥ resample uncalibrated
    checkpoint = Path(args.checkpoint or (best if best.exists() else run_dir / "latest.keras"))
    state = json.loads((run_dir / "state.json").read_text())
    model = load_model(checkpoint)
    val_files = [Path(args.data_dir) / "clean" / name for name in state["val_files"]]
    gains, table = calibrate_band_gains(
        model, val_files, args.max_filter_loss_db, args.min_mean_gain_db
    )
    out_dir = Path(args.export_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / "unet.keras")  # loaded without compile: no optimizer state
    config = UNetConfig.from_dict(state["unet_config"])
    card = {
        "version": f"unet-{state['config']}-{checkpoint.stem}-step{state['step']}",
        "checkpoint_file": checkpoint.name,
        "optimizer_state": "stripped",
        "format_version": 1,
        "config_name": state["config"],
        "unet_config": config.to_dict(),
        "cost": cost_per_audio_second(config),
        "best_step": state.get("best_step"),
        "steps_trained": state["step"],
        "wall_s": round(state["wall_s"]),
        "train_args": state["args"],
        "train_files": state["train_files"],
        "val_files": state["val_files"],
        "last_val": state["last_val"],
        "band_names": list(BAND_NAMES),
        "band_gains": list(gains),
        "calibration_max_filter_loss_db": args.max_filter_loss_db,
        "calibration_min_mean_gain_db": args.min_mean_gain_db,
        # only the gain sets that passed the SNR rules (the others have no LSD: never choosable)
        "calibration_lsd_snr_by_filter_and_gain": passing_rows(table),
        "size_bytes": (out_dir / "unet.keras").stat().st_size,
    }
    (out_dir / "card.json").write_text(json.dumps(card, indent=1))
    print(json.dumps({"band_gains": gains, "calibration": passing_rows(table)}, indent=1))


def passing_rows(table: dict) -> dict:
    """The calibration table without the gain sets whose SNR failed the rules (LSD null)."""
    return {
        name: {g: row for g, row in per_gain.items() if row[0] is not None}
        for name, per_gain in table.items()
    }
