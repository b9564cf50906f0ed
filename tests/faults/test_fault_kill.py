"""Workers killed mid-task (SIGKILL of the Celery pool process, as the kernel's OOM killer or a
node loss would do): every job still succeeds exactly once, with one output and one completion
webhook, the extra attempt recorded; a job that kills its worker every time ends `failed` with
`worker_lost` after the capped number of deliveries, and the worker takes the next job."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from shared.jobs.model import JobStatus
from tests.faults.faultkit import (
    WebhookReceiver,
    create_job,
    output_keys,
    record,
    start_fault_stack,
    states,
    wait_until,
    wav_bytes,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]

KILLS = 20
PROXY_DELAY_S = 0.25


@pytest.fixture(scope="module")
def receiver():
    hooks = WebhookReceiver()
    yield hooks
    hooks.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server, receiver):
    workdir = tmp_path_factory.mktemp("kill")
    fs = start_fault_stack(workdir, s3_server,
                           workers={"enhancer-k": "enhancer", "upsampler-k": "upsampler"},
                           proxy_delay_s=PROXY_DELAY_S,
                           extra_env={"TMPDIR": str(_tmpdir(workdir))})
    yield fs
    fs.stop()


def _tmpdir(workdir: Path) -> Path:
    path = workdir / "worker-tmp"
    path.mkdir(exist_ok=True)
    return path


def _kill_each_once(stack, receiver, status: JobStatus, stage: str, worker: str) -> dict:
    """Create KILLS jobs one after another; SIGKILL `worker`'s pool process while each one is in
    `status` on its first delivery; then wait for all and check each succeeded exactly once."""
    client = httpx.Client(base_url=stack.api_url, timeout=30)
    store = stack.running.store()
    jobs, kill_after_s = [], []
    started = time.monotonic()
    for i in range(KILLS):
        job = create_job(client, wav_bytes(1.0, seed=i), {"webhook_url": receiver.url})
        jobs.append(job)

        def first_attempt_running(job_id: str = job["id"]) -> bool:
            current = store.get(job_id)
            return (current is not None and current.status == status
                    and current.attempts.get(stage) == 1)

        wait_until(first_attempt_running, 60, f"job {i} {status.value}", interval_s=0.01)
        stack.kill_child(worker)
        kill_after_s.append(time.monotonic() - started)
    for job in jobs:
        wait_until(lambda j=job: store.get(j["id"]).status in (JobStatus.SUCCEEDED,
                                                                JobStatus.FAILED),
                   120, f"job {job['id']} finished")
    wall_s = time.monotonic() - started
    storage = stack.running.storage()
    wait_until(lambda: sum(receiver.per_job()[j["id"]] for j in jobs) >= KILLS, 60,
               "webhooks delivered")
    time.sleep(1.0)  # a duplicate webhook would arrive now
    finals = [store.get(j["id"]) for j in jobs]
    per_job_hooks = receiver.per_job()
    secret = stack.running.env["SPEAKUP_SIGNING_SECRET"].encode()
    signed_ok = receiver.verified(secret, {j["id"] for j in jobs})
    figure = {
        "kills": KILLS, "stage": stage,
        "succeeded": sum(f.status == JobStatus.SUCCEEDED for f in finals),
        "attempts": sorted({f.attempts.get(stage, 0) for f in finals}),
        "outputs_per_job": sorted({len(output_keys(storage, f.id)) for f in finals}),
        "webhooks_per_job": sorted({per_job_hooks[f.id] for f in finals}),
        "webhooks_signed_ok": signed_ok,
        "wall_s": round(wall_s, 1),
        "redelivered_stage_s_max": max(f.metrics.get(f"{stage}_s", 0) for f in finals),
    }
    for final in finals:
        assert final.status == JobStatus.SUCCEEDED, (final.id, final.error)
        assert final.attempts.get(stage) == 2, final.attempts  # killed once, redelivered once
        assert states(final) == ["queued", "enhancing", "upsampling", "succeeded"]
        assert len(output_keys(storage, final.id)) == 1
        assert per_job_hooks[final.id] == 1, per_job_hooks
        # a replacement pool process starts warm (engines imported before the fork)
        assert final.metrics[f"{stage}_s"] < 10.0, final.metrics
    assert signed_ok == KILLS
    return figure


def test_enhancer_killed_mid_task_20_times(stack, receiver):
    figure = _kill_each_once(stack, receiver, JobStatus.ENHANCING, "enhance", "enhancer-k")
    record("kill_enhancer", figure)


def test_upsampler_killed_mid_task_20_times(stack, receiver):
    figure = _kill_each_once(stack, receiver, JobStatus.UPSAMPLING, "upsample", "upsampler-k")
    record("kill_upsampler", figure)


def test_a_job_that_always_kills_its_worker_ends_worker_lost(stack):
    client = httpx.Client(base_url=stack.api_url, timeout=30)
    store = stack.running.store()
    max_deliveries = int(stack.running.env.get("SPEAKUP_MAX_REDELIVERIES", "3"))
    job = create_job(client, wav_bytes(1.0, seed=99))
    started = time.monotonic()
    for attempt in range(1, max_deliveries + 1):
        wait_until(lambda a=attempt: (j := store.get(job["id"])).status == JobStatus.ENHANCING
                   and j.attempts.get("enhance") == a, 60, f"delivery {attempt}", interval_s=0.01)
        stack.kill_child("enhancer-k")
    final = wait_until(lambda: (j := store.get(job["id"])).status == JobStatus.FAILED and j, 60,
                       "failed")
    seconds = time.monotonic() - started
    assert final.error.code == "worker_lost"
    assert "try a shorter recording" in final.error.message
    assert final.attempts["enhance"] == max_deliveries + 1
    time.sleep(2.0)  # no further delivery: the loop is closed
    assert store.get(job["id"]).attempts["enhance"] == max_deliveries + 1
    assert stack.alive("enhancer-k")

    # the worker takes the next job
    after = create_job(client, wav_bytes(1.0, seed=100))
    done = wait_until(lambda: (j := store.get(after["id"])).finished and j, 60, "next job")
    assert done.status == JobStatus.SUCCEEDED
    record("kill_always", {"kills": max_deliveries, "final": final.error.code,
                           "attempts": final.attempts["enhance"], "seconds": round(seconds, 1),
                           "next_job": done.status.value})


def test_killed_stages_leave_no_audio_in_worker_temp_dirs(stack):
    """A SIGKILLed stage cannot run its `finally`; what it had on local disk must still go: the
    only temp roots left are those of live pool processes, and they hold no stage directory."""
    live = {stack.pool_child("enhancer-k"), stack.pool_child("upsampler-k")}
    roots = list(_tmpdir(stack.workdir).glob("speakup-proc-*"))
    stray = [p.name for p in _tmpdir(stack.workdir).glob("speakup-*")
             if not p.name.startswith("speakup-proc-")]
    dead = [p.name for p in roots if int(p.name.rsplit("-", 1)[1]) not in live]
    busy = [str(p) for root in roots for p in root.iterdir()]
    record("kill_tempdirs", {"killed_processes": 2 * KILLS + 3, "roots_of_dead_processes":
                             len(dead), "stray_stage_dirs": len(stray), "left_in_live": len(busy)})
    assert dead == [] and stray == [] and busy == []
