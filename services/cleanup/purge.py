"""Erasing audio: what is due, how a job is purged, and the proof that nothing remains.

Pure functions over a JobStore and a Storage; the Celery tasks and the api's DELETE call them.
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

log = logging.getLogger("speakup.cleanup")


def purge_job(
    store: JobStore, storage: Any, job_id: str, reason: str, *,
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


def purge_due(store: JobStore, storage: Any, *, now: float, batch_size: int,
              tombstone_ttl_s: int) -> tuple[int, bool]:
    """Purge up to `batch_size` jobs whose deadline passed; returns (purged, more_due)."""
    due = store.due(now, batch_size + 1)
    for job_id in due[:batch_size]:
        job = store.get(job_id)
        if job is None:
            store.set_deadline(job_id, None)
            continue
        reason = "downloaded" if job.status == JobStatus.DOWNLOADED else "ttl"
        purge_job(store, storage, job_id, reason, tombstone_ttl_s=tombstone_ttl_s, now=now)
    return min(len(due), batch_size), len(due) > batch_size


def audit_orphans(store: JobStore, storage: Any, *, now: float, min_age_s: float) -> list[str]:
    """Objects under jobs/ whose job is unknown or already purged: delete them (nightly).

    `min_age_s` spares prefixes that a job being created right now is writing.
    """
    orphans: list[str] = []
    seen: set[str] = set()
    for key, _size in storage.list_prefix("jobs/"):
        parts = key.split("/")
        if len(parts) < 3 or parts[1] in seen:
            continue
        job_id = parts[1]
        seen.add(job_id)
        job = store.get(job_id)
        if job is None or job.status == JobStatus.PURGED or (
            job.deletion is not None and job.status != JobStatus.PURGED
        ):
            if job is None and not _old_enough(storage, job_id, now, min_age_s):
                continue
            storage.delete_prefix(job_prefix(job_id))
            orphans.append(job_id)
    if orphans:
        log_event(log, "audit.orphans_deleted", count=len(orphans))
    return orphans


def _old_enough(storage: Any, job_id: str, now: float, min_age_s: float) -> bool:
    modified = getattr(storage, "last_modified", None)
    if modified is None:
        return True
    try:
        return now - float(modified(job_prefix(job_id) + "input")) > min_age_s
    except Exception:  # noqa: BLE001 - no timestamp: treat as old
        return True
