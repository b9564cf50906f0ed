"""Graceful shutdown: SIGTERM to a busy worker (what Kubernetes and `docker stop` send) lets the
running task finish, or puts it back on the queue; jobs waiting in the queue stay there for the
next worker. None is lost."""

from __future__ import annotations

import os
import signal
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

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server):
    fs = start_fault_stack(tmp_path_factory.mktemp("sigterm"), s3_server,
                           workers={"upsampler-t": "upsampler"}, proxy_delay_s=1.0)
    yield fs
    fs.stop()


@pytest.mark.parametrize("target", ["main_process", "process_group"])
def test_sigterm_to_a_busy_worker_loses_no_job(stack, target):
    name = f"enhancer-{target}"
    stack.add_worker("enhancer", name)
    client = httpx.Client(base_url=stack.api_url, timeout=30)
    store = stack.running.store()
    jobs = [create_job(client, wav_bytes(1.0, seed=i)) for i in range(3)]
    wait_until(lambda: store.get(jobs[0]["id"]).status == JobStatus.ENHANCING, 60, "busy")
    proc = stack.running.stack.procs[name]
    sent_at = time.monotonic()
    if target == "main_process":  # Kubernetes / docker stop: PID 1 of the container
        os.kill(proc.pid, signal.SIGTERM)
    else:  # a supervisor that signals the whole group, pool processes included
        os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(60)
    exit_s = time.monotonic() - sent_at
    finished_before_exit = _has_enhanced(stack, jobs[0]["id"])
    waiting = [store.get(j["id"]).status for j in jobs[1:]]
    stack.running.stack.procs.pop(name)
    stack.add_worker("enhancer", f"{name}-next")
    finals = [wait_until(lambda j=j: (job := store.get(j["id"])).finished and job, 120,
                         f"job {j['id']}") for j in jobs]
    record(f"sigterm_{target}", {
        "exit_code": proc.returncode, "exit_s": round(exit_s, 1),
        "running_task": "finished" if finished_before_exit else "requeued",
        "queued_while_down": [s.value for s in waiting],
        "succeeded": sum(f.status == JobStatus.SUCCEEDED for f in finals), "jobs": len(jobs),
        "attempts_first": finals[0].attempts})
    assert all(s == JobStatus.QUEUED for s in waiting)  # nothing taken and dropped
    for final in finals:
        assert final.status == JobStatus.SUCCEEDED, (final.id, final.error)
        assert states(final) == ["queued", "enhancing", "upsampling", "succeeded"]
    stack.running.stack.stop(f"{name}-next")


def _has_enhanced(stack, job_id: str) -> bool:  # type: ignore[no-untyped-def]
    return any(key.endswith("enhanced.wav") for key, _ in
               stack.running.storage().list_prefix(f"jobs/{job_id}/"))
