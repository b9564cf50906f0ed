"""Erasing one job's audio now, with a verified deletion receipt.

Shared because two services erase: the api on DELETE (at once) and the cleanup worker after the
download grace or on the TTL. Pure over a JobStore and a Storage.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from shared.jobs.model import BEFORE_SUCCESS, JobStatus
from shared.jobs.store import JobStore
from shared.logging import log_event
from shared.runtime import job_prefix
from shared.storage.base import Storage

log = logging.getLogger("speakup.erasure")


def purge_job(
    store: JobStore, storage: Storage, job_id: str, reason: str, *,
    tombstone_ttl_s: int = 7 * 24 * 3600, now: float | None = None,
) -> dict[str, Any] | None:
    """Erase every object of the job, record a verified deletion receipt, end its status.

    reason: "downloaded" (grace passed), "ttl", "deleted" (DELETE), "audit" (orphan).
    Returns the receipt, or None for an unknown job. Safe to run twice.
    """
    now = time.time() if now is None else now
    job = store.get(job_id)
    if job is None:
        return None
    if job.status in BEFORE_SUCCESS:
        target = JobStatus.CANCELLED if reason == "deleted" else JobStatus.EXPIRED
        store.transition(job_id, target, error={"code": target.value, "message": _MESSAGES[target]})
    objects, size = storage.delete_prefix(job_prefix(job_id))
    remaining = storage.list_prefix(job_prefix(job_id))
    receipt = {
        "deleted_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
        "reason": reason,
        "objects": objects,
        "bytes": size,
        "verified_empty": not remaining,
    }
    latest = store.get(job_id)
    if latest is not None and latest.deletion is not None:
        # purged before: keep the first receipt's counts, add this run's
        receipt["objects"] += latest.deletion.get("objects", 0)
        receipt["bytes"] += latest.deletion.get("bytes", 0)
    store.transition(job_id, JobStatus.PURGED, deadline_at=None, deletion=receipt)
    store.set_fields(job_id, deletion=receipt)
    store.set_deadline(job_id, None)
    store.expire_record(job_id, tombstone_ttl_s)
    log_event(log, "job.purged", job_id=job_id, reason=reason, objects=receipt["objects"],
              bytes=receipt["bytes"], verified_empty=receipt["verified_empty"])
    return receipt


_MESSAGES = {
    JobStatus.EXPIRED: "The job was not finished in time and its audio was erased. "
                       "Please upload the recording again.",
    JobStatus.CANCELLED: "The job was cancelled and its audio erased.",
}
