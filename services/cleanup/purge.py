"""What is due for erasure, batch by batch, and the nightly audit for orphaned objects.

Pure functions over a JobStore and a Storage; the Celery tasks call them. Erasing one job is
`shared.erasure.purge_job` (the api's DELETE uses it too).
"""

from __future__ import annotations

import logging

from shared.erasure import purge_job
from shared.jobs.model import JobStatus
from shared.jobs.store import JobStore
from shared.logging import log_event
from shared.runtime import job_prefix
from shared.storage.base import ObjectMissing, Storage

log = logging.getLogger("speakup.cleanup")


def purge_due(store: JobStore, storage: Storage, *, now: float, batch_size: int,
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


def audit_orphans(store: JobStore, storage: Storage, *, now: float, min_age_s: float
                  ) -> list[str]:
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


def _old_enough(storage: Storage, job_id: str, now: float, min_age_s: float) -> bool:
    """The multipart route stores a job's input before it creates the job: a prefix whose input
    is younger than `min_age_s` may belong to a job being created right now."""
    try:
        return now - storage.modified_at(job_prefix(job_id) + "input") > min_age_s
    except ObjectMissing:  # no input (a straggler of a stage): nothing is being created there
        return True
