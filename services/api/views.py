"""Job → its public JSON. Pure functions: no I/O, so the status path stays one Redis read."""

from __future__ import annotations

from datetime import UTC, datetime

from services.api.schemas import JobView, ResultView, TimelineEntry
from shared.jobs.model import Job, JobStatus

# How long a polling client should wait before asking again, by status (seconds).
_RETRY_AFTER_S = {
    JobStatus.AWAITING_UPLOAD: 5,
    JobStatus.QUEUED: 2,
    JobStatus.ENHANCING: 1,
    JobStatus.UPSAMPLING: 1,
}
_HAS_OUTPUT = (JobStatus.SUCCEEDED, JobStatus.DOWNLOADED)


def iso_from_unix(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def retry_after_s(job: Job) -> int | None:
    """Seconds to the next poll while the job is not finished; None once it is."""
    return None if job.finished else _RETRY_AFTER_S.get(job.status, 2)


def result_url(public_base_url: str, job_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/v1/jobs/{job_id}/result"


def output_format(job: Job) -> str:
    return str((job.output or {}).get("format") or job.options.format)


def result_view(job: Job, public_base_url: str) -> ResultView | None:
    if job.status not in _HAS_OUTPUT:
        return None
    output = job.output or {}
    return ResultView(
        download_url=result_url(public_base_url, job.id),
        expires_at=iso_from_unix(job.deadline_at),
        sample_rate_hz=int(output.get("sample_rate_hz") or job.options.sample_rate_hz),
        format=output_format(job),
    )


def job_view(job: Job, public_base_url: str) -> JobView:
    return JobView(
        id=job.id,
        status=job.status,
        stage=job.stage,
        progress=min(max(job.progress, 0.0), 1.0),
        created_at=job.created_at,
        updated_at=job.updated_at,
        expires_at=iso_from_unix(job.deadline_at),
        options=job.options,
        input=job.input,
        engine=job.engine,
        metrics=job.metrics,
        error=job.error,
        result=result_view(job, public_base_url),
        deletion=job.deletion,
        timeline=[TimelineEntry(status=status, at=at) for status, at in job.timeline],
        attempts=job.attempts,
    )


def status_answer(job: Job, public_base_url: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of `GET /v1/jobs/{id}` for an authenticated job (the route and
    fastpath.JobStatusFastPath both answer with this)."""
    wait_s = retry_after_s(job)
    headers = {"Retry-After": str(wait_s)} if wait_s is not None else {}
    return job_view(job, public_base_url).model_dump_json().encode(), headers
