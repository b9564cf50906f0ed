"""The nightly audit compares the job store with the bucket on real Redis and S3: objects of
unknown or purged jobs are deleted, live jobs' objects are kept."""

from __future__ import annotations

import secrets
import time

import pytest

from services.cleanup.purge import audit_orphans, purge_job
from shared.jobs.model import JobOptions, JobStatus
from shared.jobs.store import JobStore, hash_token
from shared.storage.s3 import S3Storage
from tests.faults.faultkit import record

pytestmark = [pytest.mark.integration]


@pytest.fixture
def backends(redis_server, s3_server):
    storage = S3Storage(bucket="audit-" + secrets.token_hex(4), endpoint_url=s3_server,
                        access_key="test", secret_key="test")
    storage.ensure_bucket()
    return JobStore.from_url(redis_server), storage


def _job(store: JobStore, storage: S3Storage, status: JobStatus) -> str:
    job_id = secrets.token_urlsafe(16)
    store.create(job_id, hash_token("t"), JobOptions(), JobStatus.QUEUED, time.time() + 3600)
    for step in (JobStatus.ENHANCING, JobStatus.UPSAMPLING, JobStatus.SUCCEEDED):
        if status == JobStatus.QUEUED:
            break
        store.transition(job_id, step)
    storage.put_bytes(f"jobs/{job_id}/input", b"RIFF" + bytes(100), "audio/wav")
    storage.put_bytes(f"jobs/{job_id}/output.wav", b"RIFF" + bytes(100), "audio/wav")
    return job_id


def test_audit_deletes_orphans_and_leftovers_of_purged_jobs_only(backends):
    store, storage = backends
    live = _job(store, storage, JobStatus.QUEUED)
    done = _job(store, storage, JobStatus.SUCCEEDED)
    purged = _job(store, storage, JobStatus.SUCCEEDED)
    purge_job(store, storage, purged, "downloaded")
    storage.put_bytes(f"jobs/{purged}/output.wav", b"late write", "audio/wav")  # a straggler
    orphan = secrets.token_urlsafe(16)
    storage.put_bytes(f"jobs/{orphan}/input", b"no job knows me", "audio/wav")
    deleted = audit_orphans(store, storage, now=time.time() + 7200, min_age_s=3600)
    left = {k.split("/")[1] for k, _ in storage.list_prefix("jobs/")}
    record("audit", {"planted": 2, "deleted": len(deleted),
                     "deleted_right": len(set(deleted) & {orphan, purged}),
                     "live_jobs_kept": len(left & {live, done})})
    assert set(deleted) == {orphan, purged}
    assert left == {live, done}


def test_audit_spares_a_fresh_prefix_whose_job_is_being_created(backends):
    # the multipart route stores the input before it creates the job
    store, storage = backends
    fresh = secrets.token_urlsafe(16)
    storage.put_bytes(f"jobs/{fresh}/input", b"RIFF" + bytes(100), "audio/wav")
    assert audit_orphans(store, storage, now=time.time(), min_age_s=3600) == []
    assert storage.exists(f"jobs/{fresh}/input")
    # an hour later nobody has claimed it: an orphan
    assert audit_orphans(store, storage, now=time.time() + 3700, min_age_s=3600) == [fresh]
    assert storage.list_prefix(f"jobs/{fresh}/") == []
