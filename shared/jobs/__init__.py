from shared.jobs.model import Job, JobError, JobOptions, JobStatus
from shared.jobs.store import JobStore, hash_token

__all__ = ["Job", "JobError", "JobOptions", "JobStatus", "JobStore", "hash_token"]
