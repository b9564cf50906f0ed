"""Real-time factor of the HiFi-GAN `small` and `paper` configs on CPU, in one run.

    .venv/bin/python -m benchmarks.bench_hifigan [--threads 2] [--seconds 4]

RTF = processing time / audio duration through services.enhancer.inference.enhance (chunked,
batched), untrained weights (speed does not depend on them). Also records parameters and
FLOPs per audio second (torch.utils.flop_counter) and the machine's load while measuring —
other jobs on a shared machine slow every figure down.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from services.enhancer.inference import enhance
from services.enhancer.model.config import load_config
from services.enhancer.model.enhancer import Enhancer

OUT = Path(__file__).resolve().parent / "results" / "hifigan_rtf.json"


def gflop_per_audio_second(model: Enhancer) -> float:
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.zeros(1, 1, model.config.sample_rate_hz))
    return counter.get_total_flops() / 1e9


def measure(name: str, seconds: float, repeats: int, device: torch.device) -> dict:
    model = Enhancer(load_config(name)).eval().to(device)
    rate = model.config.sample_rate_hz
    audio = (0.1 * np.random.default_rng(0).standard_normal(int(seconds * rate))).astype(
        np.float32)
    enhance(model, audio[: rate // 2], rate)  # warm-up: allocator, oneDNN kernels
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        enhance(model, audio, rate)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {"config": name, "device": str(device), "audio_s": seconds,
            "params": sum(p.numel() for p in model.parameters()),
            "gflop_per_audio_s": round(gflop_per_audio_second(model.cpu()), 2),
            "seconds": [round(t, 3) for t in times],
            "rtf": round(min(times) / seconds, 4)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0, help="audio for `small`")
    parser.add_argument("--paper-seconds", type=float, default=2.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load_before = os.getloadavg()[0]
    rows = [measure("small", args.seconds, 3, device),
            measure("paper", args.paper_seconds, 1, device)]
    result = {"benchmark": "hifigan_rtf", "threads": args.threads,
              "machine": f"{platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}",
              "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
