"""Storage goes away for 30 s (the S3 server process stopped, then started again on the same port
with its data kept): stages retry with backoff and jitter, and every job completes."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from shared.jobs.model import JobStatus
from tests.faults.faultkit import (
    create_job,
    record,
    start_fault_stack,
    states,
    wait_until,
    wav_bytes,
)
from tests.servers import ServerUnavailable, free_port, start_s3_server

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]

OUTAGE_S = 30.0
JOBS = 6


def test_s3_outage_of_30_s_every_job_completes(tmp_path):
    s3_dir, port = tmp_path / "s3", free_port()
    try:
        endpoint, stop_s3 = start_s3_server(s3_dir, persist=True, port=port)
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    fs = start_fault_stack(tmp_path / "stack", endpoint,
                           workers={"enhancer-s": "enhancer", "upsampler-s": "upsampler"},
                           proxy_delay_s=0.3)
    try:
        client = httpx.Client(base_url=fs.api_url, timeout=30)
        store = fs.running.store()
        jobs = [create_job(client, wav_bytes(1.0, seed=i)) for i in range(JOBS)]
        wait_until(lambda: any(store.get(j["id"]).status == JobStatus.ENHANCING for j in jobs),
                   60, "a job running")
        stop_s3()
        down_at = time.monotonic()
        ready_during = httpx.get(f"{fs.api_url}/readyz", timeout=10).status_code
        time.sleep(OUTAGE_S)
        endpoint, stop_s3 = start_s3_server(s3_dir, persist=True, port=port)
        outage_s = time.monotonic() - down_at
        finals = [wait_until(lambda j=j: (job := store.get(j["id"])).finished and job, 300,
                             f"job {j['id']}") for j in jobs]
        done_s = time.monotonic() - down_at
        logs = fs.running.logs()
        retries = len(re.findall(r"Retry in \d+", logs))
        countdowns = sorted(float(x) for x in re.findall(r"Retry in (\d+(?:\.\d+)?)s", logs))
        record("s3_outage", {
            "outage_s": round(outage_s, 1), "jobs": JOBS,
            "succeeded": sum(f.status == JobStatus.SUCCEEDED for f in finals),
            "task_retries": retries, "retry_countdowns_s": countdowns[:20],
            "readyz_during_outage": ready_during, "all_done_after_s": round(done_s, 1)})
        assert ready_during == 503
        for final in finals:
            assert final.status == JobStatus.SUCCEEDED, (final.id, final.error)
            assert states(final) == ["queued", "enhancing", "upsampling", "succeeded"]
        assert retries >= 1  # the outage was felt, and ridden out by retrying
    finally:
        fs.stop()
        stop_s3()
