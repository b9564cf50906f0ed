"""CPU of one presigned upload form (what each `POST /v1/jobs` signs), botocore's against ours.

    .venv/bin/python -m benchmarks.presign [--n 2000]

Both sides in this process on the same `S3Storage` (its clients are built once, as in the api):
`botocore`, the call `S3Storage.presigned_post` made before (`generate_presigned_post` with the
same fields and conditions), and `ours`, `S3Storage.presigned_post` now (`shared.storage.s3_post`).
Rounds alternate (a few hundred calls each) so background load falls on both alike; CPU is
`time.process_time`. Then each side runs N calls under cProfile: where the CPU goes. No server is
asked — a presigned form is computed locally. Writes `benchmarks/results/presign.md`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from collections.abc import Callable
from pathlib import Path

from shared.storage.s3 import S3Storage

RESULTS = Path(__file__).resolve().parent / "results"
KEY, CONTENT_TYPE, MAX_BYTES, EXPIRES_S = "jobs/0123456789abcdef/input", "audio/mp4", 2 << 30, 900


def botocore_post(storage: S3Storage) -> object:
    return storage._signer.generate_presigned_post(
        Bucket=storage.bucket, Key=KEY, Fields={"Content-Type": CONTENT_TYPE},
        Conditions=[{"Content-Type": CONTENT_TYPE}, ["content-length-range", 1, MAX_BYTES]],
        ExpiresIn=EXPIRES_S)  # fmt: skip


def ours_post(storage: S3Storage) -> object:
    return storage.presigned_post(KEY, content_type=CONTENT_TYPE, max_bytes=MAX_BYTES,
                                  expires_s=EXPIRES_S)


def cpu_per_call_us(call: Callable[[], object], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - start) / n * 1e6


def profile(call: Callable[[], object], n: int, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        call()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    return "\n".join(line.rstrip() for line in lines[start - 2:] if line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    storage = S3Storage("speakup", "http://127.0.0.1:9", access_key="AKIDEXAMPLE",
                        secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCY",
                        public_endpoint_url="http://127.0.0.1:9000")
    sides = {"botocore": lambda: botocore_post(storage), "ours": lambda: ours_post(storage)}
    for call in sides.values():  # warm: endpoint rules, caches, the form URL
        cpu_per_call_us(call, 50)
    per_round = max(args.n // args.rounds, 1)
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, call in sides.items():
            samples[name].append(cpu_per_call_us(call, per_round))
    profiles = {name: profile(call, args.n, args.top) for name, call in sides.items()}
    load = os.getloadavg()
    mean = {name: sum(v) / len(v) for name, v in samples.items()}
    lines = [
        "# Presigned POST: CPU per upload form",
        "",
        f"`python -m benchmarks.presign --n {args.n}` on {time.strftime('%Y-%m-%d')}; "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) on this "
        f"2-core machine. {args.rounds} alternating rounds of {per_round} calls per side, "
        "CPU time (`time.process_time`), same process and `S3Storage`.",
        "",
        "| side | µs CPU per form (mean) | rounds (µs) |",
        "|---|---|---|",
        *(f"| {name} | {mean[name]:.0f} | {' / '.join(f'{v:.0f}' for v in samples[name])} |"
          for name in sides),
        "",
        f"Ours is {mean['botocore'] / mean['ours']:.0f}× leaner; both produce the same fields "
        "for the same instant (`tests/shared/test_storage_s3_post.py`). A warm botocore form is "
        f"{mean['botocore'] / 1000:.2f} ms, so most of the ≈ 1.9 ms of CPU per create that "
        "issue 16 reports is spent elsewhere in the create (not measured here).",
        "",
    ]
    for name, text in profiles.items():
        lines += [f"## cProfile, {args.n} calls: {name} (top {args.top} by own time)", "",
                  "```", text, "```", ""]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "presign.md").write_text("\n".join(lines))
    print("\n".join(lines[:12]))


if __name__ == "__main__":
    main()
