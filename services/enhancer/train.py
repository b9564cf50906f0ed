"""Train an enhancer (any family): one loop, phases from the config's table, resumable, DDP-ready.

    python -m services.enhancer.train --config small --data-dir ../shared/data \
        --run-dir runs/hifigan_small --steps 5000
    python -m services.enhancer.train --family erbnet --config small --run-dir runs/erbnet_small
    torchrun --nproc-per-node 2 -m services.enhancer.train ...   # DDP (gloo on CPU, NCCL on GPU)

Writes <run-dir>/last.pt (every --checkpoint-every-s and at the end), <run-dir>/best.pt (best
validation PESQ-WB, SI-SDR where PESQ is missing), TensorBoard events and a JSONL log.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from services.enhancer import families
from services.enhancer.checkpoint import load_checkpoint, save_checkpoint
from services.enhancer.data.dataset import degrade_settings, load_plain_folders
from services.enhancer.model.discriminators import Discriminators
from services.enhancer.train_steps import StepContext, phase_at, step_function
from services.enhancer.validation import validate

log = logging.getLogger("services.enhancer.train")


def build_context(config: Any, device: torch.device, distributed: bool
                  ) -> tuple[StepContext, nn.Module, Discriminators]:
    """Models, optimizers and (when distributed) their DDP wrappers, which the steps call.

    config: a family's config (HiFiGANConfig, ErbNetConfig); its `family` picks the network.
    """
    enhancer = families.get(config.family).build(config).to(device)
    discriminators = Discriminators(config).to(device)
    wrapped_enhancer: nn.Module = enhancer
    wrapped_discriminators: nn.Module = discriminators
    if distributed:
        ids = [device.index] if device.type == "cuda" else None
        # Phase 1 leaves the Postnet out of the graph: DDP must be told some params are unused.
        wrapped_enhancer = DistributedDataParallel(enhancer, device_ids=ids,
                                                   find_unused_parameters=True)
        wrapped_discriminators = DistributedDataParallel(discriminators, device_ids=ids)
    ctx = StepContext(
        config=config, enhancer=wrapped_enhancer, discriminators=wrapped_discriminators,
        optimizer_generator=torch.optim.Adam(enhancer.parameters(), lr=1e-3, betas=(0.9, 0.99)),
        optimizer_discriminator=torch.optim.Adam(discriminators.parameters(), lr=1e-3,
                                                 betas=(0.5, 0.9)),
        device=device)
    return ctx, enhancer, discriminators


def set_phase_learning_rates(ctx: StepContext, index: int, progress: float = 0.0) -> None:
    """The phase's rates, decayed along a half cosine to `lr_final_fraction` of them as
    `progress` (0..1 through the phase) goes from 0 to 1."""
    phase = ctx.config.train.phases[index]
    factor = phase.lr_final_fraction + (1.0 - phase.lr_final_fraction) * 0.5 * (
        1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    for group in ctx.optimizer_generator.param_groups:
        group["lr"] = phase.lr_generator * factor
    for group in ctx.optimizer_discriminator.param_groups:
        group["lr"] = phase.lr_discriminator * factor


def _save(path: Path, ctx: StepContext, enhancer: nn.Module, discriminators: Discriminators,
          step: int, metrics: dict[str, float], wall_s: float) -> None:
    save_checkpoint(path, ctx.config, enhancer.state_dict(), step,
                    discriminators=discriminators.state_dict(),
                    optimizers={"generator": ctx.optimizer_generator.state_dict(),
                                "discriminator": ctx.optimizer_discriminator.state_dict()},
                    metrics=metrics, train_wall_s=float(wall_s))


def validation_fingerprint(pairs: list[tuple[np.ndarray, np.ndarray]]) -> str:
    """Names the validation clips, so a resumed run knows whether its best score was measured
    on the same ones."""
    digest = hashlib.sha1(str(len(pairs)).encode())
    for noisy, clean in pairs:
        digest.update(noisy[:4096].tobytes())
        digest.update(clean[:4096].tobytes())
    return digest.hexdigest()[:16]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="hifigan", choices=families.NAMES)
    parser.add_argument("--config", default="small", help="the family's config name "
                        "(hifigan: paper | small | tiny; erbnet: small | large | tiny) or a .yaml")
    parser.add_argument("--data-dir", type=Path, action="append", help="a folder of clean/ "
                        "noise/ rir/ (repeat for several; default SPEAKUP_DATA_DIR or "
                        "../shared/data)")
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--steps", type=int, help="stop at this global step (default: the end "
                        "of the config's last phase)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--checkpoint-every-s", type=float, default=300.0)
    parser.add_argument("--validate-every", type=int, default=250)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--simulated-rirs", type=int, default=24)
    parser.add_argument("--init-from", type=Path, help="a serving bundle (e.g. models/hifigan/"
                        "hifigan_small.pt) to start from when the run dir has no last.pt: its "
                        "weights and step, fresh optimizers")
    args = parser.parse_args(argv)
    if not args.data_dir:
        args.data_dir = [Path(os.environ.get(
            "SPEAKUP_DATA_DIR", Path(__file__).resolve().parents[3] / "shared" / "data"))]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    torch.set_num_threads(args.threads)

    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    rank = int(os.environ.get("RANK", 0))
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    run_dir = args.run_dir
    last_path = run_dir / "last.pt"
    config = families.get(args.family).load_config(args.config)
    if args.steps is None:
        args.steps = sum(phase.steps for phase in config.train.phases)
    step, wall_s, best, best_on = 0, 0.0, -float("inf"), None
    ctx, enhancer, discriminators = build_context(config, device, distributed)
    if last_path.exists():
        bundle = load_checkpoint(last_path, device, family=config.family)
        enhancer.load_state_dict(bundle["enhancer"])
        discriminators.load_state_dict(bundle["discriminators"])
        ctx.optimizer_generator.load_state_dict(bundle["optimizers"]["generator"])
        ctx.optimizer_discriminator.load_state_dict(bundle["optimizers"]["discriminator"])
        step, wall_s = bundle["step"], bundle.get("train_wall_s", 0.0)
        best = bundle.get("metrics", {}).get("best_score", best)
        best_on = bundle.get("metrics", {}).get("validation_set")
        log.info("resumed %s at step %d", last_path, step)
    elif args.init_from is not None:
        bundle = load_checkpoint(args.init_from, device, family=config.family)
        enhancer.load_state_dict(bundle["enhancer"])
        step, wall_s = bundle["step"], bundle.get("train_wall_s", 0.0)
        # best.pt then only takes a checkpoint that beats the one we started from
        best = bundle.get("metrics", {}).get("best_score", best)
        best_on = bundle.get("metrics", {}).get("validation_set")
        log.info("started from %s at step %d", args.init_from, step)

    t = config.train
    settings = degrade_settings(t)
    roots = args.data_dir if len(args.data_dir) > 1 else args.data_dir[0]
    batches, validation = load_plain_folders(roots, config.sample_rate_hz, settings,
                                             args.simulated_rirs, seed=args.seed)
    validation_set = validation_fingerprint(validation)
    if best_on != validation_set:  # data changed: a best score on other clips means nothing
        best = -float("inf")
    # Each rank (and each resume) draws different batches.
    rng = np.random.default_rng([args.seed, rank, step])
    segment = int(t.segment_s * config.sample_rate_hz)

    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run_dir / "tb"))
    jsonl = (run_dir / "log.jsonl").open("a") if rank == 0 else None
    phase_index = -1
    started, last_save, sums, counts = time.monotonic(), time.monotonic(), {}, {}
    base_wall = wall_s
    while step < args.steps:
        index, phase = phase_at(t.phases, step)
        if index != phase_index:
            phase_index = index
            log.info("step %d: phase %s", step, phase.name)
        phase_start = sum(p.steps for p in t.phases[:index])
        set_phase_learning_rates(ctx, index, (step - phase_start) / max(phase.steps, 1))
        noisy, clean = batches.batch(t.batch_size, segment, rng)
        scalars = step_function(phase)(ctx, phase, noisy.to(device), clean.to(device))
        step += 1
        wall_s = base_wall + time.monotonic() - started
        for key, value in scalars.items():
            sums[key] = sums.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
        if rank == 0 and step % args.log_every == 0:
            means = {k: v / counts[k] for k, v in sums.items()}
            record = {"step": step, "phase": phase.name, "wall_s": round(wall_s, 1), **means}
            log.info("%s", json.dumps(record))
            jsonl.write(json.dumps(record) + "\n")
            jsonl.flush()
            for key, value in means.items():
                writer.add_scalar(key, value, step)
            sums, counts = {}, {}
        if rank == 0 and validation and (step % args.validate_every == 0 or step == args.steps):
            examples: list[np.ndarray] = []
            metrics = validate(enhancer, validation, config.sample_rate_hz, examples)
            rate = config.sample_rate_hz
            for tag, audio in (("enhanced", examples[0]), ("noisy", validation[0][0]),
                               ("clean", validation[0][1])):
                writer.add_audio(f"val/{tag}", torch.from_numpy(audio)[None], step, rate)
            score = metrics.get("val/pesq_wb", metrics["val/si_sdr_db"])
            for key, value in metrics.items():
                writer.add_scalar(key, value, step)
            log.info("step %d validation %s", step, json.dumps(metrics))
            jsonl.write(json.dumps({"step": step, **metrics}) + "\n")
            if score > best:
                best = score
                _save(run_dir / "best.pt", ctx, enhancer, discriminators, step,
                      {**metrics, "best_score": best, "validation_set": validation_set},
                      wall_s)
            last_save = 0.0  # force a last.pt alongside
        if rank == 0 and (time.monotonic() - last_save > args.checkpoint_every_s
                          or step == args.steps):
            _save(last_path, ctx, enhancer, discriminators, step,
                  {"best_score": best, "validation_set": validation_set}, wall_s)
            last_save = time.monotonic()
    if writer is not None:
        writer.close()
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
