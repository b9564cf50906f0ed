"""What every processing stage does the same way: claim the job (compare-and-set), count attempts,
report progress, keep to its time limit, and fail a job with a code a person can act on."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.jobs.model import STAGE_SPAN, JobStatus
from shared.jobs.store import JobStore
from shared.logging import log_event
from shared.runtime import job_prefix

log = logging.getLogger("speakup.stage")


class StageFailed(Exception):
    """The input or the options make this job impossible; retrying will not help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors worth a retry with backoff: storage or Redis briefly away."""
    import redis

    from shared.storage.base import StorageUnavailable

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, StorageUnavailable,
            ConnectionError, TimeoutError)


class StageSkipped(Exception):
    """The job moved on without us (duplicate delivery, cancelled, purged): do nothing."""


@dataclass
class Claim:
    job_id: str
    status: JobStatus
    attempt: int


def claim(store: JobStore, job_id: str, *, previous: JobStatus, running: JobStatus,
          stage: str, max_attempts: int, retries: int = 0) -> Claim:
    """Move `previous → running`, or resume a `running` job whose worker was lost.

    Raises StageSkipped when the job is elsewhere (a duplicate delivery is a no-op) and
    fails the job with `worker_lost` past `max_attempts` deliveries of this stage (deliberate
    retries after transient errors, `retries`, do not count against it).
    """
    job = store.get(job_id)
    if job is None or job.status not in (previous, running):
        raise StageSkipped(f"job is {job.status if job else 'gone'}")
    attempt = store.incr_attempt(job_id, stage)
    if attempt - retries > max_attempts:
        fail(store, job_id, "worker_lost",
             f"Processing stopped {max_attempts} times in the {stage} stage. The file may be too "
             "demanding for the server; try a shorter recording or contact support.")
        raise StageSkipped("too many attempts")
    if job.status == previous and not store.transition(job_id, running):
        latest = store.get(job_id)
        if latest is None or latest.status != running:
            raise StageSkipped("lost the race to claim the job")
    store.touch_running(job_id)
    return Claim(job_id, running, attempt)


def discard_if_abandoned(store: JobStore, storage: Any, job_id: str) -> bool:
    """After writing to storage: if the job was cancelled, expired or failed meanwhile (a DELETE
    while we worked), erase what we wrote now rather than leave it to the nightly audit."""
    job = store.get(job_id)
    if job is not None and job.status not in (JobStatus.CANCELLED, JobStatus.EXPIRED,
                                              JobStatus.FAILED, JobStatus.PURGED):
        return False
    storage.delete_prefix(job_prefix(job_id))
    log_event(log, "stage.discarded", job_id=job_id, status=job.status.value if job else "gone")
    return True


def fail(store: JobStore, job_id: str, code: str, message: str) -> bool:
    moved = store.transition(job_id, JobStatus.FAILED, error={"code": code, "message": message},
                             progress="0")
    log_event(log, "job.failed", logging.WARNING, job_id=job_id, code=code, moved=moved)
    return moved


def progress_reporter(store: JobStore, job_id: str, status: JobStatus,
                      min_interval_s: float = 0.5) -> Callable[[float], None]:
    """A callback mapping this stage's 0..1 onto the job's overall progress, rate-limited."""
    low, high = STAGE_SPAN[status]
    last = [0.0]

    def report(fraction: float) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - last[0] < min_interval_s:
            return
        last[0] = now
        store.set_progress(job_id, status, low + (high - low) * min(max(fraction, 0.0), 1.0))
        store.touch_running(job_id)

    return report


def deadline_check(store: JobStore, job_id: str, status: JobStatus,
                   limit_s: float) -> Callable[[], None]:
    """Between blocks: stop when over the time limit, or when the job was cancelled meanwhile."""
    started = time.monotonic()

    def check() -> None:
        if time.monotonic() - started > limit_s:
            raise StageFailed("processing_timeout",
                              "Processing took longer than allowed for a file of this length. "
                              "Try again later or with a shorter recording.")
        job = store.get(job_id)
        if job is None or job.status != status:
            raise StageSkipped(f"job became {job.status if job else 'gone'}")

    return check


def private_tmpdir(root: str | None = None) -> Path:
    """Give this worker process its own temp root, and erase those of processes that are gone.

    A stage killed by SIGKILL (the OOM killer, a lost node, a hard time limit) never runs its
    `finally`, so the temporary directory holding the user's audio would stay on disk for good.
    Each pool process therefore works under `<tmp>/speakup-proc-<pid>/`; when Celery starts a
    replacement process it removes every such directory whose process no longer exists.
    """
    base = Path(root or tempfile.gettempdir())
    for stale in base.glob("speakup-proc-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
            log_event(log, "worker.tmp_removed", pid=int(pid))
    mine = base / f"speakup-proc-{os.getpid()}"
    mine.mkdir(mode=0o700, exist_ok=True)
    tempfile.tempdir = str(mine)
    return mine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours to judge
        return True
    return True
