"""Band-gain calibration and export of a trained U-Net (`python -m services.upsampler.train
--run-dir ... --export-dir models/unet`).

The network's residual is added in four bands relative to the input's cutoff
(inference.BAND_NAMES), each with a gain chosen on the training speakers' validation files
(never evaluation speakers) for the lowest log-spectral distance — haoheliu/ssr_eval's, the
mean of full band and 8–24 kHz, averaged over the evaluation filters, both signals as 16-bit
PCM, as `make eval-sr` scores them. SNR is measured and recorded beside it, not a condition:
any plausible invented band lowers it (issue 15; the SNR rule had held the band at −16.5 dB).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GAIN_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
SWEEPS = 2
HIGH_BAND_HZ = 8000.0


@dataclass(frozen=True)
class Case:
    """One validation file through one evaluation filter."""

    filter_name: str
    target: np.ndarray  # [T] 16-bit PCM values
    target_magnitude: np.ndarray  # its |STFT| at ssr_eval's size, computed once
    base: np.ndarray  # [T] the resample engine's output
    bands: list[np.ndarray]  # the residual split into bands (inference.split_residual)


def calibration_cases(model, val_files: list[Path]) -> list[Case]:
    from services.upsampler import data, inputs
    from services.upsampler.inference import (
        DEFAULT_CUTOFF_HZ,
        is_conditioned,
        split_residual,
        upsample_48k,
    )
    from services.upsampler.sr_metrics import (
        magnitude_spectrogram,
        ssr_eval_stft_size,
        to_pcm16,
        trim_digital_silence,
    )

    cases = []
    for path in val_files:
        target = trim_digital_silence(data.read_full_band(path))
        target = to_pcm16(target[: len(target) - len(target) % 3])
        target_magnitude = magnitude_spectrogram(target, *ssr_eval_stft_size(48000))
        for name, params in inputs.EVAL_FILTERS.items():
            low = inputs.degrade_to_16k(target, params)
            cutoff_hz = min(inputs.measure_cutoff_hz(low, inputs.LOW_RATE_HZ), DEFAULT_CUTOFF_HZ)
            base = inputs.interpolate_to_48k(low)
            out = upsample_48k(model, base, cutoff_hz=cutoff_hz)
            band_cutoff_hz = cutoff_hz if is_conditioned(model) else DEFAULT_CUTOFF_HZ
            cases.append(Case(name, target, target_magnitude, base,
                              split_residual(base, out, band_cutoff_hz)))
    return cases


def score(cases: list[Case], gains: tuple[float, ...] | None) -> dict[str, list[float]]:
    """filter → mean [LSD, LSD 8–24 kHz, SNR dB] of base + Σ gain · band (None: base alone)."""
    from services.upsampler.sr_metrics import (
        lsd_from_magnitudes,
        magnitude_spectrogram,
        snr_db,
        ssr_eval_stft_size,
        to_pcm16,
    )

    rows: dict[str, list[tuple[float, float, float]]] = {}
    for case in cases:
        estimate = case.base
        if gains is not None:
            estimate = case.base + sum(
                np.float32(g) * b for g, b in zip(gains, case.bands, strict=True)
            )
        estimate = to_pcm16(estimate)
        magnitude = magnitude_spectrogram(estimate, *ssr_eval_stft_size(48000))
        full, high = lsd_from_magnitudes(case.target_magnitude, magnitude, 48000,
                                         (0.0, HIGH_BAND_HZ))
        rows.setdefault(case.filter_name, []).append((full, high, snr_db(case.target, estimate)))
    return {name: [round(float(v), 4) for v in np.mean(r, axis=0)] for name, r in rows.items()}


def objective(table: dict[str, list[float]]) -> float:
    """Mean over filters of (LSD + LSD 8–24 kHz) / 2: lower is better."""
    return float(np.mean([(lsd_full + lsd_high) / 2 for lsd_full, lsd_high, _ in table.values()]))


def choose_band_gains(cost, n_bands: int = 4) -> tuple[float, ...]:
    """Coordinate descent over `GAIN_GRID` from the raw network (all 1): each band in turn
    takes the grid value of lowest `cost(gains)`, `SWEEPS` times over. A full grid would cost
    |grid|^4 evaluations; the bands barely interact (disjoint frequencies)."""
    gains = [1.0] * n_bands
    best = cost(tuple(gains))
    for _ in range(SWEEPS):
        for band in range(n_bands):
            for value in GAIN_GRID:
                trial = tuple(value if i == band else g for i, g in enumerate(gains))
                value_cost = cost(trial)
                if value_cost < best:
                    best, gains = value_cost, list(trial)
    return tuple(gains)


def calibrate_band_gains(model, val_files: list[Path]) -> tuple[tuple[float, ...], dict]:
    """The band gains of lowest LSD on `val_files`, and a table {"resample", "raw", "chosen"} →
    filter → [LSD, LSD 8–24 kHz, SNR dB]."""
    cases = calibration_cases(model, val_files)
    gains = choose_band_gains(lambda g: objective(score(cases, g)))
    table = {
        "resample": score(cases, None),
        "raw": score(cases, (1.0, 1.0, 1.0, 1.0)),
        "chosen": score(cases, gains),
    }
    return gains, table


def export(args: argparse.Namespace) -> None:
    """Save a checkpoint (without optimizer state) to `--export-dir` as unet.keras with
    card.json (config, data, cost, training steps and wall time, calibrated band gains)."""
    from services.upsampler.inference import BAND_NAMES
    from services.upsampler.model import UNetConfig, cost_per_audio_second
    from services.upsampler.unet_engine import load_model

    run_dir = Path(args.run_dir)
    best = run_dir / "best.keras"
    checkpoint = Path(args.checkpoint or (best if best.exists() else run_dir / "latest.keras"))
    state = json.loads((run_dir / "state.json").read_text())
    model = load_model(checkpoint)
    # run states name files relative to the data dir; older ones by bare name under clean/
    val_files = [
        Path(args.data_dir) / (name if "/" in name else f"clean/{name}")
        for name in state["val_files"]
    ][: args.calibration_files]
    gains, table = calibrate_band_gains(model, val_files)
    out_dir = Path(args.export_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / "unet.keras")  # loaded without compile: no optimizer state
    config = UNetConfig.from_dict(state["unet_config"])
    # best.keras is the step of the best validation, not the run's last
    step = state.get("best_step") or state["step"] if checkpoint.stem == "best" else state["step"]
    card_path = out_dir / "card.json"
    earlier = json.loads(card_path.read_text()) if card_path.exists() else {}
    lineage = [*earlier.get("lineage", []), {
        "steps": f"{earlier.get('steps_trained', 0)}-{step}",
        "run": str(run_dir),
        "args": state["args"],
        "run_wall_s": round(state["wall_s"]),
    }]
    card = {
        "version": f"unet-{state['config']}-step{step}",
        "checkpoint_file": checkpoint.name,
        "optimizer_state": "stripped",
        "format_version": 1,
        "config_name": state["config"],
        "unet_config": config.to_dict(),
        "cost": cost_per_audio_second(config),
        "best_step": state.get("best_step"),
        "steps_trained": step,
        "wall_s": round(state["wall_s"]),
        "train_args": state["args"],
        "train_files": state["train_files"],
        "val_files": state["val_files"],
        "last_val": state["last_val"],
        "band_names": list(BAND_NAMES),
        "band_gains": list(gains),
        "calibration": {
            "files": [p.name for p in val_files],
            "objective": "mean over the evaluation filters of (LSD + LSD 8-24 kHz) / 2, "
            "haoheliu/ssr_eval LSD, 16-bit PCM",
            "lsd_lsd_high_snr_by_filter": table,
        },
        "size_bytes": (out_dir / "unet.keras").stat().st_size,
        "lineage": lineage,
        "hardware": earlier.get("hardware"),
    }
    from services.upsampler.lite import attach_lite

    card = attach_lite(out_dir / "unet.keras", card)  # what serving loads (LiteRT)
    card_path.write_text(json.dumps(card, indent=1))
    print(json.dumps({"band_gains": gains, "calibration": table}, indent=1))
