"""Short load on the api (the 60 s figures come from `make bench`): status polling and job
creation against uvicorn with a real Redis, 5 s each, stopping by themselves; no errors, every
answer as expected. And a burst of jobs through the real stack: all succeed, none lost."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess

import pytest

from benchmarks.jobs import run_jobs
from benchmarks.load import create_requests, poll_requests, seed_jobs, server_pids, start_api
from benchmarks.loadgen import run_load
from tests.faults.faultkit import record, start_fault_stack
from tests.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DURATION_S = 5.0


@pytest.fixture(scope="module")
def api(tmp_path_factory, redis_server, s3_server):
    from shared.storage.s3 import S3Storage

    bucket = "speakup-load-" + secrets.token_hex(3)
    S3Storage(bucket=bucket, endpoint_url=s3_server, access_key="test",
              secret_key="test").ensure_bucket()
    port = free_port()
    env = {**os.environ, "SPEAKUP_REDIS_URL": redis_server, "SPEAKUP_STORAGE_BACKEND": "s3",
           "SPEAKUP_S3_BUCKET": bucket, "SPEAKUP_S3_ENDPOINT_URL": s3_server,
           "SPEAKUP_S3_ACCESS_KEY": "test", "SPEAKUP_S3_SECRET_KEY": "test",
           "SPEAKUP_SIGNING_SECRET": secrets.token_hex(24), "SPEAKUP_LOG_LEVEL": "WARNING",
           "SPEAKUP_CREATE_RATE_PER_MINUTE": "1000000"}
    proc: subprocess.Popen[bytes] = start_api(env, port, 1, "auto", "auto",
                                              tmp_path_factory.mktemp("load") / "api.log")
    yield port, redis_server, proc
    proc.terminate()
    proc.wait(15)


def test_polling_and_creating_under_load_without_errors(api):
    port, redis_url, proc = api
    host = f"127.0.0.1:{port}"
    jobs = seed_jobs(f"http://{host}", redis_url, 40)
    pids = server_pids(proc)
    polls = asyncio.run(run_load("127.0.0.1", port, poll_requests(host, jobs), name="polls",
                                 duration_s=DURATION_S, connections=16, server_pids=pids,
                                 warmup_s=1.0))
    creates = asyncio.run(run_load("127.0.0.1", port, create_requests(host), name="creates",
                                   duration_s=DURATION_S, connections=8, server_pids=pids,
                                   warmup_s=0.5))
    figures = {"polls": polls.summary(), "creates": creates.summary(),
               "load_average_1min": round(os.getloadavg()[0], 1)}
    record("load_short", figures)
    assert polls.errors == 0 and set(polls.statuses) == {200}
    assert creates.errors == 0 and set(creates.statuses) == {201}
    assert polls.duration_s < DURATION_S + 5  # it stopped by itself
    assert len(polls.latencies_ms) >= 50 and len(creates.latencies_ms) >= 20


@pytest.mark.slow
def test_a_burst_of_jobs_all_succeed_none_lost(tmp_path, s3_server):
    stack = start_fault_stack(tmp_path, s3_server,
                              workers={"enhancer-l": "enhancer", "upsampler-l": "upsampler"},
                              proxy_delay_s=None, extra_env={"SPEAKUP_LOG_LEVEL": "WARNING"})
    try:
        report = run_jobs(stack.running, count=30, clip_s=1.0, timeout_s=180)
    finally:
        stack.stop()
    record("jobs_burst_short", report)
    assert report["succeeded"] == 30
    assert report["lost"] == 0 and report["failed"] == 0 and report["unfinished"] == 0
