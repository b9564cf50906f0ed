"""What the job routes do after authentication: submit, hand out the result, erase.

Sync functions over the store and storage (they run in the thread pool, one hop per request).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from services.api.creation import Backends, enqueue_enhance
from services.api.errors import ApiError
from services.api.views import output_format, retry_after_s
from shared.jobs.model import RUNNING, Job, JobStatus
from shared.jobs.store import now_iso
from shared.runtime import input_key, job_prefix, output_key

_HAS_OUTPUT = (JobStatus.SUCCEEDED, JobStatus.DOWNLOADED)
_GONE_MESSAGES = {
    JobStatus.PURGED: "the result was erased after its download grace period or on request",
    JobStatus.EXPIRED: "the job expired and its audio was erased",
    JobStatus.CANCELLED: "the job was cancelled and its audio erased",
}


def submit(b: Backends, job: Job) -> JobStatus:
    """awaiting_upload → queued (compare-and-set) and enqueue; a repeat answers the status."""
    if job.status == JobStatus.AWAITING_UPLOAD:
        if not b.storage.exists(input_key(job.id)):
            raise ApiError(
                409,
                "upload_missing",
                "no upload found for this job: POST the file to upload.url first",
            )
        deadline_at = time.time() + b.settings.job_ttl_s
        if b.store.transition(job.id, JobStatus.QUEUED, deadline_at=deadline_at):
            enqueue_enhance(b, job.id)
            return JobStatus.QUEUED
        job = b.store.get(job.id) or job  # a concurrent submit (or the TTL) won the race
    if job.status in RUNNING or job.status in _HAS_OUTPUT:
        return job.status
    raise ApiError(409, "invalid_state", f"the job is {job.status.value} and cannot be submitted")


def _unavailable(job: Job) -> ApiError:
    if job.status in _GONE_MESSAGES:
        return ApiError(410, job.status.value, _GONE_MESSAGES[job.status])
    if job.status == JobStatus.FAILED:
        return ApiError(409, "job_failed", "the job failed; see error in GET /v1/jobs/{id}")
    wait_s = retry_after_s(job) or 2
    return ApiError(
        409,
        "not_ready",
        f"the job is {job.status.value}; the result is not ready",
        {"Retry-After": str(wait_s)},
    )


def open_result(b: Backends, job: Job) -> tuple[str, str]:
    """(presigned GET url, its expiry). The first call moves succeeded → downloaded and starts
    the download grace period, after which the cleanup worker erases everything."""
    now = time.time()
    if job.status == JobStatus.SUCCEEDED:
        moved = b.store.transition(
            job.id,
            JobStatus.DOWNLOADED,
            deadline_at=now + b.settings.download_grace_s,
            downloaded_at=now_iso(),
        )
        if not moved:
            job = b.store.get(job.id) or job
    if job.status not in _HAS_OUTPUT:
        raise _unavailable(job)
    if job.status == JobStatus.DOWNLOADED and job.deadline_at is not None and job.deadline_at < now:
        raise ApiError(410, "purged", _GONE_MESSAGES[JobStatus.PURGED])
    fmt = output_format(job)
    key = str((job.output or {}).get("key") or output_key(job.id, fmt))
    if not key.startswith(job_prefix(job.id)):  # never sign a key outside this job
        key = output_key(job.id, fmt)
    expiry_s = b.settings.download_url_expiry_s
    url = b.storage.presigned_get(key, expires_s=expiry_s, download_name=f"speakup-{job.id}.{fmt}")
    expires_at = datetime.fromtimestamp(now + expiry_s, UTC).isoformat(timespec="seconds")
    return url, expires_at.replace("+00:00", "Z")


def erase(b: Backends, job: Job) -> None:
    """Cancel if still running, delete every object under jobs/<id>/ now, keep a receipt."""
    # The cleanup service owns purging; it is pure and shared-only, so the api calls it directly.
    from shared.erasure import purge_job

    if job.deletion is not None and job.status in _GONE_MESSAGES:
        return  # already erased: DELETE is idempotent
    purge_job(b.store, b.storage, job.id, "deleted", tombstone_ttl_s=b.settings.tombstone_ttl_s)
