"""Load on the api: status polling and job creation against uvicorn with a real Redis (and the S3
server for presigning), measured by benchmarks/loadgen.py; optionally profiled with py-spy.

    python -m benchmarks.load [--duration-s 60] [--poll-rate 2000] [--workers 1] [--profile [S]]
                              [--repeat 1] [--only PREFIXES] [--pythonpath OTHER_TREE]
                              [--loop auto|asyncio|uvloop] [--http auto|h11|httptools]

Writes benchmarks/results/load.json and load.md. Everything on 127.0.0.1; every scenario stops
after its duration. `--in-process N` instead measures the CPU of a create and of a poll through
the app in this process (no HTTP server), for another tree too with `--pythonpath`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from benchmarks.loadgen import request_bytes, run_load

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]


def start_api(env: dict[str, str], port: int, workers: int, loop: str, http: str,
              log_path: Path, app_dir: str = "") -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "uvicorn", "services.api.app:make_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
            "--workers", str(workers), "--loop", loop, "--http", http]
    if app_dir:  # first on sys.path (PYTHONPATH alone comes after the working directory)
        argv += ["--app-dir", app_dir]
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=open(log_path, "ab"),  # noqa: SIM115
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"api did not start: {log_path.read_text()[-2000:]}")


def server_pids(proc: subprocess.Popen[bytes]) -> list[int]:
    """uvicorn itself and, with --workers, its worker processes."""
    from tests.faults.faultkit import children

    return [proc.pid, *children(proc.pid)]


def seed_jobs(api_url: str, redis_url: str, count: int) -> list[tuple[str, str]]:
    """`count` jobs: half waiting for their upload, half finished with realistic fields."""
    from shared.jobs.model import JobStatus
    from shared.jobs.store import JobStore

    store = JobStore.from_url(redis_url)
    jobs = []
    with httpx.Client(base_url=api_url, timeout=30) as client:
        for i in range(count):
            body = client.post("/v1/jobs", json={"content_type": "audio/mp4", "size_bytes": 2e6,
                                                 "options": {"preset": "podcast"}}).json()
            jobs.append((body["id"], body["token"]))
            if i % 2:
                job_id = body["id"]
                store.transition(job_id, JobStatus.QUEUED)
                store.transition(job_id, JobStatus.ENHANCING)
                store.merge(job_id, "input", {"duration_s": 61.3, "sample_rate_hz": 48000,
                                              "channels": 2, "codec": "aac", "container": "mov"})
                store.merge(job_id, "engine", {"enhancer": "dsp", "enhancer_version": "1"})
                store.transition(job_id, JobStatus.UPSAMPLING)
                store.merge(job_id, "metrics", {"input_lufs": -27.1, "output_lufs": -16.0,
                                                "output_true_peak_dbtp": -1.2, "enhance_s": 3.1})
                store.transition(job_id, JobStatus.SUCCEEDED, output={
                    "key": f"jobs/{job_id}/output.wav", "sample_rate_hz": 48000,
                    "format": "wav", "bytes": 8_800_000})
    return jobs


def poll_requests(host: str, jobs: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    prepared = [request_bytes("GET", f"/v1/jobs/{job_id}", host,
                              {"Authorization": f"Bearer {token}"}) for job_id, token in jobs]
    return lambda i: prepared[i % len(prepared)]


def create_requests(host: str):  # type: ignore[no-untyped-def]
    body = json.dumps({"filename": "memo.m4a", "content_type": "audio/mp4", "size_bytes": 1234567,
                       "options": {"preset": "podcast"}}).encode()
    request = request_bytes("POST", "/v1/jobs", host, {"Content-Type": "application/json"}, body)
    return lambda i: request


def mixed_requests(host: str, jobs: list[tuple[str, str]], create_every: int = 20):  # type: ignore[no-untyped-def]
    poll, create = poll_requests(host, jobs), create_requests(host)
    return lambda i: create(i) if i % create_every == 0 else poll(i)


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy samples the api process (native frames off, GIL-agnostic) into collapsed stacks."""
    return subprocess.Popen(["py-spy", "record", "-p", str(pid), "-d", str(int(seconds)),
                             "-r", "250", "-f", "raw", "-o", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:"
                                 + os.environ.get("PATH", "")})


def summarize_profile(path: Path, top: int = 15) -> dict[str, Any]:
    """Where the api's samples went: by package (leaf frame's), by leaf function, and the
    inclusive share of functions below the server's entry chain."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    package: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        names = [f.rsplit(":", 1)[0] + ")" for f in frames]  # "fn (pkg/file.py)"
        for name in set(names):
            inclusive[name] += n
        leaf[names[-1]] += n
        where = frames[-1].rsplit("(", 1)[-1]
        package[where.split("/")[0] if "/" in where else where.split(":")[0]] += n
    pct = lambda n: round(100 * n / max(total, 1), 1)  # noqa: E731
    entry = ("click/", "runpy", "uvicorn/main.py", "uvicorn/server.py", "uvicorn/__main__",
             "uvicorn/_compat.py", "asyncio/runners.py")
    below_entry = [(f, pct(n)) for f, n in inclusive.most_common()
                   if not any(e in f for e in entry)][:top]
    return {"samples": total, "self_by_package_pct": [(p, pct(n)) for p, n in
                                                       package.most_common(top)],
            "self_pct": [(f, pct(n)) for f, n in leaf.most_common(top)],
            "inclusive_pct": below_entry}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.servers import free_port, start_redis_server, start_s3_server

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="speakup-load-"))
    redis_url, stop_redis = start_redis_server(work / "redis")
    s3_url, stop_s3 = start_s3_server(work / "s3")
    bucket = "speakup-load"
    from shared.storage.s3 import S3Storage

    S3Storage(bucket=bucket, endpoint_url=s3_url, access_key="test",
              secret_key="test").ensure_bucket()
    port = free_port()
    env = {**os.environ, "SPEAKUP_REDIS_URL": redis_url, "SPEAKUP_STORAGE_BACKEND": "s3",
           "SPEAKUP_S3_BUCKET": bucket, "SPEAKUP_S3_ENDPOINT_URL": s3_url,
           "SPEAKUP_S3_ACCESS_KEY": "test", "SPEAKUP_S3_SECRET_KEY": "test",
           "SPEAKUP_SIGNING_SECRET": secrets.token_hex(24), "SPEAKUP_LOG_LEVEL": "WARNING",
           "SPEAKUP_CREATE_RATE_PER_MINUTE": "100000000", "PYTHONPATH": str(REPO)}
    api = start_api(env, port, args.workers, args.loop, args.http, work / "api.log",
                    args.pythonpath)
    host, api_url = f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"
    results: list[dict[str, Any]] = []
    try:
        jobs = seed_jobs(api_url, redis_url, 200)
        pids = server_pids(api)
        health = request_bytes("GET", "/healthz", host)
        scenarios = [
            ("healthz_closed_loop (framework floor)", lambda i: health, args.connections, None),
            ("polls_closed_loop", poll_requests(host, jobs), args.connections, None),
            (f"polls_open_loop_{args.poll_rate}_per_s", poll_requests(host, jobs), 64,
             args.poll_rate),
            ("creates_closed_loop", create_requests(host), 16, None),
            (f"mixed_open_loop_{args.poll_rate}_per_s_5pct_creates",
             mixed_requests(host, jobs), 64, args.poll_rate),
        ]
        rounds = [(r, *scenario) for r in range(1, args.repeat + 1) for scenario in scenarios]
        for round_no, name, make, connections, rate in rounds:
            if args.only and not any(name.startswith(o) for o in args.only.split(",")):
                continue
            spy = None
            profile_path = work / f"profile_{len(results)}.txt"
            if args.profile and name.startswith(tuple(args.profile.split(","))):
                spy = profile(pids[-1], args.duration_s, profile_path)
            load_before = os.getloadavg()[0]
            outcome = asyncio.run(run_load("127.0.0.1", port, make, name=name,
                                           duration_s=args.duration_s, connections=connections,
                                           rate_per_s=rate, server_pids=pids))
            summary = {**outcome.summary(), "round": round_no, "connections": connections,
                       "load_average_1min": [round(load_before, 1),
                                             round(os.getloadavg()[0], 1)]}
            if spy is not None:
                spy.wait(args.duration_s + 30)
                if profile_path.exists():
                    summary["profile"] = summarize_profile(profile_path)
            results.append(summary)
            print(json.dumps({k: v for k, v in summary.items() if k != "profile"}), flush=True)
    finally:
        api.terminate()
        api.wait(15)
        stop_s3()
        stop_redis()
    return {"server": {"workers": args.workers, "loop": args.loop, "http": args.http,
                       "cpus": os.cpu_count(), "tree": args.pythonpath or "this checkout"},
            "started_utc": started, "load_average_1_5_15_at_start": load_at_start,
            "load_average_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()],
            "scenarios": results}


async def _asgi_cpu_us(app: Any, scope: dict[str, Any], body: bytes,
                       n: int) -> tuple[float, bytes]:
    """CPU µs per request of `app` answering `scope` n times, driven as ASGI (no HTTP server),
    and the last answer's body."""
    answer = bytearray()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] < 300, message
        answer[:] = message.get("body", b"")

    for _ in range(min(n, 200)):  # warm up
        await app(dict(scope), receive, send)
    start = time.process_time()
    for _ in range(n):
        await app(dict(scope), receive, send)
    return round((time.process_time() - start) / n * 1e6, 1), bytes(answer)


def in_process(n: int, rounds: int = 3) -> dict[str, list[float]]:
    """CPU per create and per poll through the real app and its lifespan (real Redis, S3 server,
    S3 presigning), in this process: the api's own cost, without uvicorn or the kernel's."""
    from services.api.app import create_app
    from shared.settings import Settings
    from tests.servers import start_redis_server, start_s3_server

    work = Path(tempfile.mkdtemp(prefix="speakup-inproc-"))
    (redis_url, stop_redis), (s3_url, stop_s3) = (start_redis_server(work / "redis"),
                                                  start_s3_server(work / "s3"))
    settings = Settings(redis_url=redis_url, storage_backend="s3", s3_bucket="speakup-inproc",
                        s3_endpoint_url=s3_url, s3_access_key="test", s3_secret_key="test",
                        signing_secret=secrets.token_hex(24), log_level="WARNING",
                        create_rate_per_minute=100_000_000)
    app = create_app(settings)
    body = create_requests("x")(0).split(b"\r\n\r\n", 1)[1]
    headers = [(b"host", b"x"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    base = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http",
            "root_path": "", "query_string": b"", "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80), "state": {}}
    create = {**base, "method": "POST", "path": "/v1/jobs", "raw_path": b"/v1/jobs",
              "headers": headers}

    async def measure() -> dict[str, list[float]]:
        async with app.router.lifespan_context(app):
            job = json.loads((await _asgi_cpu_us(app, create, body, 1))[1])
            path = f"/v1/jobs/{job['id']}"
            poll = {**base, "method": "GET", "path": path, "raw_path": path.encode(),
                    "headers": [(b"host", b"x"), (b"authorization", f"Bearer {job['token']}"
                                 .encode())]}
            out: dict[str, list[float]] = {"create_cpu_us": [], "poll_cpu_us": []}
            for _ in range(rounds):
                out["create_cpu_us"].append((await _asgi_cpu_us(app, create, body, n))[0])
                out["poll_cpu_us"].append((await _asgi_cpu_us(app, poll, b"", n))[0])
            return out

    try:
        import uvloop  # the server's loop (uvicorn --loop auto)

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(measure())
    finally:
        stop_s3()
        stop_redis()


def to_markdown(report: dict[str, Any]) -> str:
    server = report["server"]
    lines = [f"### api load — uvicorn workers={server['workers']} loop={server['loop']} "
             f"http={server['http']}, {server['cpus']} CPUs",
             "", f"Started {report.get('started_utc', '?')}; api from "
             f"{server.get('tree', 'this checkout')}; load average (1/5/15 min) "
             f"{report.get('load_average_1_5_15_at_start', '?')} at start, "
             f"{report.get('load_average_1_5_15_at_end', '?')} at the end. Per scenario: the "
             "1-minute load average before→after it.",
             "", "| scenario | round | conns | req/s | p50 ms | p95 ms | p99 ms | max ms | "
             "errors | server CPU µs/req | load avg |", "|---" * 11 + "|"]
    for s in report["scenarios"]:
        lines.append(f"| {s['scenario']} | {s.get('round', 1)} | {s['connections']} | "
                     f"{s['requests_per_s']} | "
                     f"{s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {s['max_ms']} | "
                     f"{s['errors']} | {s.get('server_cpu_us_per_request', '')} | "
                     f"{s['load_average_1min'][0]}→{s['load_average_1min'][1]} |")
    mixes = [s for s in report["scenarios"] if "by_method" in s]
    if mixes:
        lines += ["", "In the mix, by request kind (latency from when each request was due):", "",
                  "| scenario | round | GET p50 / p99 ms | POST p50 / p99 ms |",
                  "|---|---|---|---|"]
        for s in mixes:
            get, post = s["by_method"].get("GET", {}), s["by_method"].get("POST", {})
            lines.append(f"| {s['scenario']} | {s.get('round', 1)} | "
                         f"{get.get('p50_ms')} / {get.get('p99_ms')} | "
                         f"{post.get('p50_ms')} / {post.get('p99_ms')} |")
    for s in report["scenarios"]:
        if "profile" in s:
            prof = s["profile"]
            lines += ["", f"Profile of the api during `{s['scenario']}` (py-spy, "
                      f"{prof['samples']} samples). Self time by package: "
                      + ", ".join(f"{p} {v}%" for p, v in prof["self_by_package_pct"]), "",
                      "| self % | function | | inclusive % | function |", "|---|---|---|---|---|"]
            for (f1, p1), (f2, p2) in zip(prof["self_pct"], prof["inclusive_pct"], strict=False):
                lines.append(f"| {p1} | `{f1}` | | {p2} | `{f2}` |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--poll-rate", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", default="auto")
    parser.add_argument("--http", default="auto")
    parser.add_argument("--pythonpath", default="", help="extra import path for the api server")
    parser.add_argument("--profile", nargs="?", const="polls_closed_loop", default="",
                        help="py-spy one api worker during these scenarios (comma-separated "
                        "name prefixes; default polls_closed_loop)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the scenarios this many times over (rounds), same server")
    parser.add_argument("--tag", default="", help="suffix of the results files")
    parser.add_argument("--only", default="", help="comma-separated scenario name prefixes")
    parser.add_argument("--in-process", type=int, default=0, metavar="N",
                        help="instead: CPU per create and per poll through the app in this "
                        "process, N requests a round (prints JSON, writes nothing)")
    args = parser.parse_args(argv)
    if args.in_process:
        if args.pythonpath:  # another tree's api, as --pythonpath gives the server
            sys.path.insert(0, args.pythonpath)
        measured = in_process(args.in_process)
        print(json.dumps(measured))
        return measured
    report = run(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "load" + (f"_{args.tag}" if args.tag else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (RESULTS / f"{stem}.md").write_text(to_markdown(report))
    return report


if __name__ == "__main__":
    main()
