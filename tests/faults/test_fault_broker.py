"""The broker misbehaves: a task delivered twice (visibility timeout shorter than the task, or a
plain duplicate message) never moves a job backwards nor doubles its output or webhook; Redis
restarted mid-run (AOF on) loses no job, and the sweeper re-enqueues the one whose running task
the restart cut off."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections import Counter

import httpx
import pytest

from shared.celery_app import create_celery
from shared.jobs.model import JobStatus
from shared.settings import Settings
from shared.tasks import QUEUE_ENHANCE, QUEUE_UPSAMPLE, TASK_ENHANCE, TASK_UPSAMPLE
from tests.faults.faultkit import (
    DelayProxy,
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

ORDER = ["queued", "enhancing", "upsampling", "succeeded"]
# The visibility timeout must exceed the hard time limit of the longest input the settings
# admit (a validator checks it), so the test admits 5 s inputs with short limits: 40 s.
VISIBILITY_TIMEOUT_S = 40
SHORT_LIMITS = {"broker_visibility_timeout_s": VISIBILITY_TIMEOUT_S, "max_duration_s": 5,
                "task_soft_time_limit_base_s": 5, "task_time_limit_per_audio_s": 0.5}
# per storage request of the first run: its download alone is two held requests (HEAD, GET),
# so the first run is still inside its stage well past the timeout; the second run's requests
# are quick, so it overtakes the first
SLOW_DELAY_S = 40.0
FAST_DELAY_S = 3.0
STANDBY_QUEUE = "speakup.standby"  # a queue nothing is sent to


@pytest.fixture(scope="module")
def receiver():
    hooks = WebhookReceiver()
    yield hooks
    hooks.close()


def _celery(env: dict[str, str]):  # type: ignore[no-untyped-def]
    return create_celery(Settings(redis_url=env["SPEAKUP_REDIS_URL"], **SHORT_LIMITS))


def _watch(store, job_id: str, until_s: float) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
    """(status, progress) as a client polling fast would see them, until finished."""
    seen: list[tuple[str, float]] = []
    deadline = time.monotonic() + until_s
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if not seen or seen[-1] != (job.status.value, job.progress):
            seen.append((job.status.value, job.progress))
        if job.finished:
            return seen
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} still {seen[-1]}")


def _forward_only(seen: list[tuple[str, float]]) -> bool:
    ranks = [ORDER.index(status) for status, _ in seen]
    progress = [p for _, p in seen]
    return ranks == sorted(ranks) and progress == sorted(progress)


def test_visibility_timeout_redelivery_runs_twice_but_never_backwards(tmp_path, s3_server,
                                                                      receiver):
    # One enhancer takes the job and runs long (slow storage); a second one, already running but
    # on a standby queue, is switched to the enhance queue only then and gets the redelivered
    # message through quick storage. Nothing slow (a worker's start-up) lies between the
    # redelivery and its claim, and the first run is inside its stage for at least two holds of
    # the slow proxy, so the two runs overlap whatever the machine's load. (Starting the second
    # worker only after the claim made the test fail inside the full suite: the start-up there
    # outlasted the first run.)
    fs = start_fault_stack(tmp_path, s3_server, workers={"enhancer-d1": "enhancer"},
                           proxy_delay_s=SLOW_DELAY_S,
                           extra_env={f"SPEAKUP_{k.upper()}": str(v)
                                      for k, v in SHORT_LIMITS.items()})
    fast = DelayProxy(int(s3_server.rsplit(":", 1)[1]), FAST_DELAY_S)
    try:
        fs.add_worker("upsampler", "upsampler-d", slow_storage=False)
        fs.add_worker("enhancer", "enhancer-d2", slow_storage=False, queues=STANDBY_QUEUE,
                      env={"SPEAKUP_S3_ENDPOINT_URL": fast.url})
        client = httpx.Client(base_url=fs.api_url, timeout=30)
        store, storage = fs.running.store(), fs.running.storage()
        job = create_job(client, wav_bytes(1.0), {"webhook_url": receiver.url})
        wait_until(lambda: store.get(job["id"]).status == JobStatus.ENHANCING, 60, "enhancing")
        started = time.monotonic()
        # The first worker stops consuming (its running task goes on) and the second starts, so
        # the redelivered message can only go to the second one.
        app = _celery(fs.running.env)
        host = socket.gethostname()
        for call, worker in ((app.control.cancel_consumer, "enhancer-d1"),
                             (app.control.add_consumer, "enhancer-d2")):
            replies = call(QUEUE_ENHANCE, destination=[f"{worker}@{host}"], reply=True,
                           timeout=10)
            assert replies, f"{worker} did not answer {call.__name__}"
        # Once the message is older than the visibility timeout, any consumer's periodic scan
        # puts it back on the queue although its first delivery is still running; do that scan
        # now (kombu runs it on each consumer every ~100 s) so the test need not wait for it.
        time.sleep(max(0.0, started + VISIBILITY_TIMEOUT_S + 1 - time.monotonic()))

        def redelivered() -> bool:
            # repeat the scan until the second consumer has picked the message up: on a loaded
            # machine one scan can come before the message is old enough, or the pick-up is slow
            with app.connection() as connection:
                connection.default_channel.qos.restore_visible(num=100, interval=1)
            time.sleep(1.0)
            return store.get(job["id"]).attempts.get("enhance") == 2

        try:
            wait_until(redelivered, 40, "second delivery running")
        except TimeoutError as exc:  # say where the message is, for whoever reads the failure
            r = store.redis
            raise AssertionError(
                f"{exc}; queue {r.llen(QUEUE_ENHANCE)}, unacked {r.hlen('unacked')}, "
                f"mutex {r.exists('unacked_mutex')}, attempts {store.get(job['id']).attempts}, "
                f"{time.monotonic() - started:.1f} s after the claim"
            ) from exc
        # both run at once: a claim while the job is still enhancing is one the first run has
        # not finished (it would have moved the job on), and its slow requests outlast this
        assert time.monotonic() - started < 2 * SLOW_DELAY_S
        seen = _watch(store, job["id"], 180)
        final = store.get(job["id"])
        wait_until(lambda: receiver.per_job()[job["id"]] >= 1, 30, "webhook")
        # the slow first run (between blocks) or the upsample it hands over finds the job moved
        # on and stops
        wait_until(lambda: f'"stage.skipped", "job_id": "{job["id"]}"' in fs.running.logs(),
                   4 * SLOW_DELAY_S, "a duplicate run skipped")
        time.sleep(1.0)
        again = store.get(job["id"])
        record("duplicate_visibility_timeout", {
            "visibility_timeout_s": VISIBILITY_TIMEOUT_S, "deliveries": final.attempts,
            "final": final.status.value, "states": states(final),
            "observed_forward_only": _forward_only(seen),
            "outputs": len(output_keys(storage, job["id"])),
            "webhooks": receiver.per_job()[job["id"]], "seconds": round(time.monotonic()
                                                                       - started, 1)})
        assert final.status == JobStatus.SUCCEEDED, final.error
        assert states(final) == ORDER
        assert _forward_only(seen), seen
        assert again.status == JobStatus.SUCCEEDED and again.timeline == final.timeline
        assert len(output_keys(storage, job["id"])) == 1
        assert receiver.per_job()[job["id"]] == 1
    finally:
        fs.stop()
        fast.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server):
    fs = start_fault_stack(tmp_path_factory.mktemp("broker"), s3_server,
                           workers={"enhancer-b": "enhancer", "upsampler-b": "upsampler"},
                           proxy_delay_s=0.3,
                           # the sweeper re-enqueues a job untouched this long: above the
                           # slowest gap between a stage's heartbeats on a loaded 2-core machine
                           # (6 s requeued healthy jobs 12 times in a loaded full run)
                           extra_env={"SPEAKUP_STUCK_JOB_TIMEOUT_S": "10",
                                      "SPEAKUP_CLEANUP_INTERVAL_S": "1"})
    yield fs
    fs.stop()


def test_duplicate_messages_after_success_are_no_ops(stack, receiver):
    client = httpx.Client(base_url=stack.api_url, timeout=30)
    store = stack.running.store()
    job = create_job(client, wav_bytes(1.0), {"webhook_url": receiver.url})
    done = wait_until(lambda: (j := store.get(job["id"])).finished and j, 60, "done")
    assert done.status == JobStatus.SUCCEEDED
    wait_until(lambda: receiver.per_job()[job["id"]] == 1, 30, "webhook")
    done = wait_until(lambda: (j := store.get(job["id"])).metrics.get("webhook") and j, 30,
                      "webhook recorded")
    app = create_celery(Settings(redis_url=stack.running.env["SPEAKUP_REDIS_URL"]))
    for _ in range(3):
        app.send_task(TASK_ENHANCE, kwargs={"job_id": job["id"]}, queue=QUEUE_ENHANCE)
        app.send_task(TASK_UPSAMPLE, kwargs={"job_id": job["id"]}, queue=QUEUE_UPSAMPLE)
    needle = f'"job_id": "{job["id"]}"'

    def skipped() -> int:
        return sum(line.count("stage.skipped") for line in stack.running.logs().splitlines()
                   if needle in line)

    wait_until(lambda: skipped() >= 6, 60, "duplicates skipped")
    time.sleep(1.0)
    after = store.get(job["id"])
    record("duplicate_after_success", {"duplicates_sent": 6, "skipped": skipped(),
                                       "attempts": after.attempts,
                                       "webhooks": receiver.per_job()[job["id"]]})
    assert after.model_dump() == done.model_dump()  # not one field changed
    assert receiver.per_job()[job["id"]] == 1


def test_redis_restart_mid_run_loses_no_job(stack):
    client = httpx.Client(base_url=stack.api_url, timeout=30)
    store = stack.running.store()
    url = stack.running.env["SPEAKUP_REDIS_URL"]
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    jobs = [create_job(client, wav_bytes(1.0, seed=i)) for i in range(8)]
    wait_until(lambda: any(store.get(j["id"]).status == JobStatus.ENHANCING for j in jobs), 60,
               "one job running")
    running_before = [j["id"] for j in jobs if store.get(j["id"]).status == JobStatus.ENHANCING]
    queued_before = store.redis.llen(QUEUE_ENHANCE)
    down_at = time.monotonic()
    stack.running.stack.stop("redis", signal.SIGTERM)  # graceful: AOF fsynced on shutdown
    answers: list[str] = []
    for _ in range(10):  # clients keep polling through the outage
        try:
            answer = client.get(f"/v1/jobs/{jobs[0]['id']}",
                                headers={"Authorization": f"Bearer {jobs[0]['token']}"})
            answers.append(f"{answer.status_code} Retry-After={answer.headers.get('retry-after')}")
        except httpx.HTTPError as exc:
            answers.append(type(exc).__name__)
        time.sleep(0.2)
    stack.running.stack.start_redis(stack.workdir / "redis", port=port, appendonly=True)
    # read at once: the workers reconnect with a backoff of seconds
    queued_after, unacked_after = store.redis.llen(QUEUE_ENHANCE), store.redis.hlen("unacked")
    outage_s = time.monotonic() - down_at
    finals = [wait_until(lambda j=j: (job := store.get(j["id"])) is not None and job.finished
                         and job, 180, f"job {j['id']} after restart") for j in jobs]
    recovered_s = time.monotonic() - down_at
    requeued = stack.running.logs().count('"job.requeued"')
    first_poll_after = client.get(f"/v1/jobs/{jobs[0]['id']}",
                                  headers={"Authorization": f"Bearer {jobs[0]['token']}"})
    record("redis_restart", {
        "jobs": len(jobs), "succeeded": sum(f.status == JobStatus.SUCCEEDED for f in finals),
        "lost": sum(f is None for f in finals), "running_at_restart": len(running_before),
        "outage_s": round(outage_s, 1), "all_done_after_s": round(recovered_s, 1),
        "enhance_queue_before_after": [queued_before, queued_after],
        "unacked_after_restart": unacked_after,
        "sweeper_requeues": requeued,
        "api_answers_during_outage": dict(Counter(answers)),
        "attempts": sorted({json.dumps(f.attempts, sort_keys=True) for f in finals})})
    assert first_poll_after.status_code == 200
    assert all(a.startswith("503 Retry-After=") for a in answers), answers  # no 500s
    assert queued_after == queued_before  # the AOF kept every queued message
    for final in finals:
        assert final.status == JobStatus.SUCCEEDED, (final.id, final.error, final.attempts)
        assert states(final) == ORDER
