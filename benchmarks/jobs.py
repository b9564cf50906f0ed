"""Many short jobs at once through the real stack (redis-server, ministack, the api under uvicorn,
enhancer/upsampler/cleanup Celery workers): all succeed, none lost, and how long each waited in
the queue before a worker started it.

    python -m benchmarks.jobs [--count 200] [--clip-s 1.0] [--concurrency 1]

Writes benchmarks/results/jobs.json and jobs.md. Jobs use the `passthrough` enhancer and the
`resample` upsampler, so the figures are about the queue and the plumbing, not the models.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
OPTIONS = {"engine": "passthrough", "upsampler": "resample", "preset": "podcast"}


def _t(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _dist(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) if values else np.zeros(1)
    out = {f"p{q}": round(float(np.percentile(a, q)), 2) for q in (50, 95, 99)}
    return {**out, "max": round(float(a.max()), 2), "min": round(float(a.min()), 2)}


def submit_all(api_url: str, audio: bytes, count: int, threads: int = 8) -> list[dict[str, Any]]:
    """Create `count` jobs through the multipart route as fast as `threads` clients can."""
    def one(i: int) -> dict[str, Any]:
        with httpx.Client(base_url=api_url, timeout=120) as client:
            answer = client.post("/v1/jobs", files={"file": (f"clip{i}.wav", audio, "audio/wav")},
                                 data={"options": json.dumps(OPTIONS)})
            answer.raise_for_status()
            return dict(answer.json())

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def run_jobs(running: Any, count: int, clip_s: float, timeout_s: float) -> dict[str, Any]:
    """`running`: a tests.stackutil.RunningStack with the three workers up."""
    from tests.faults.faultkit import wav_bytes

    store = running.store()
    audio = wav_bytes(clip_s)
    started = time.monotonic()
    jobs = submit_all(running.api_url, audio, count)
    submitted_s = time.monotonic() - started
    ids = [j["id"] for j in jobs]
    deadline = time.monotonic() + timeout_s
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        pending = {i for i in pending if not store.get(i).finished}
        time.sleep(0.5)
    wall_s = time.monotonic() - started
    finals = [store.get(i) for i in ids]
    waits, totals = [], []
    for job in finals:
        timeline = dict(job.timeline)
        if "queued" in timeline and "enhancing" in timeline:
            waits.append(_t(timeline["enhancing"]) - _t(timeline["queued"]))
        if "succeeded" in timeline:
            totals.append(_t(timeline["succeeded"]) - _t(timeline["queued"]))
    return {
        "jobs": count, "clip_s": clip_s, "submitted_in_s": round(submitted_s, 1),
        "succeeded": sum(j.status.value == "succeeded" for j in finals),
        "failed": sum(j.status.value == "failed" for j in finals),
        "unfinished": len(pending), "lost": sum(j is None for j in finals),
        "wall_s": round(wall_s, 1), "jobs_per_min": round(60 * count / wall_s, 1),
        "queue_to_start_s": _dist(waits), "queued_to_succeeded_s": _dist(totals),
        "redeliveries": sum(sum(j.attempts.values()) - len(j.attempts) for j in finals),
        "load_average_1min": round(os.getloadavg()[0], 1),
    }


def to_markdown(r: dict[str, Any]) -> str:
    q, t = r["queue_to_start_s"], r["queued_to_succeeded_s"]
    return "\n".join([
        f"### {r['jobs']} short jobs at once through the real stack ({r['clip_s']} s clips, "
        f"passthrough + resample, enhancer concurrency {r.get('concurrency', 1)})", "",
        "| jobs | succeeded | failed | lost | unfinished | wall s | jobs/min | redeliveries |",
        "|---|---|---|---|---|---|---|---|",
        f"| {r['jobs']} | {r['succeeded']} | {r['failed']} | {r['lost']} | {r['unfinished']} | "
        f"{r['wall_s']} | {r['jobs_per_min']} | {r['redeliveries']} |", "",
        "| latency (s) | p50 | p95 | p99 | max |", "|---|---|---|---|---|",
        f"| queued → enhancing (queue wait) | {q['p50']} | {q['p95']} | {q['p99']} | {q['max']} |",
        f"| queued → succeeded | {t['p50']} | {t['p95']} | {t['p99']} | {t['max']} |", "",
        f"Load average (1 min) at the end: {r['load_average_1min']} on {os.cpu_count()} CPUs.", ""])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--clip-s", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=1, help="enhancer pool processes")
    parser.add_argument("--timeout-s", type=float, default=900)
    parser.add_argument("--tag", default="", help="suffix of the results files")
    args = parser.parse_args(argv)
    from tests.faults.faultkit import start_fault_stack
    from tests.servers import start_s3_server

    work = Path(tempfile.mkdtemp(prefix="speakup-jobs-"))
    s3_url, stop_s3 = start_s3_server(work / "s3")
    stack = start_fault_stack(work / "stack", s3_url, workers={"upsampler-j": "upsampler"},
                              proxy_delay_s=None, extra_env={"SPEAKUP_LOG_LEVEL": "WARNING"})
    try:
        stack.add_worker("enhancer", "enhancer-j", concurrency=args.concurrency)
        report = {**run_jobs(stack.running, args.count, args.clip_s, args.timeout_s),
                  "concurrency": args.concurrency}
    finally:
        stack.stop()
        stop_s3()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "jobs" + (f"_{args.tag}" if args.tag else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (RESULTS / f"{stem}.md").write_text(to_markdown(report))
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
