"""Creating jobs: the JSON route (presigned POST) and the multipart one-shot route.

The blocking parts (Redis, storage, broker) run as one sync function in the thread pool; the
async parts (reading the body, resolving a webhook host) stay on the event loop. The common case,
a JSON create without an Idempotency-Key, is one awaited Redis script and a local HMAC, so it
stays on the loop (`create_fresh_presigned_job`): two thread-pool hops were half its CPU, and a
sync Redis call on the loop holds it while Redis answers (benchmarks/results/create_profile.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request

from services.api.errors import ApiError
from services.api.metrics import Metrics
from services.api.schemas import CreatedJob, CreateJobRequest, UploadTarget
from services.api.ssrf import WebhookRefused, check_webhook_host
from services.api.tokens import idempotent_token, new_job_id, new_token
from shared.jobs.model import Job, JobOptions, JobStatus
from shared.jobs.store import AsyncJobStore, JobStore, hash_token
from shared.logging import log_event
from shared.runtime import input_key
from shared.settings import Settings
from shared.tasks import QUEUE_ENHANCE, TASK_ENHANCE

log = logging.getLogger("speakup.api")
MAX_JSON_BYTES = 64 * 1024


@dataclass(frozen=True)
class Backends:
    settings: Settings
    store: JobStore
    storage: Any
    celery: Any
    metrics: Metrics
    astore: AsyncJobStore | None = None  # the event loop's client (fresh JSON creates)


# -- validation (pure or async, no Redis) ------------------------------------------------------
async def read_limited_body(request: Request, limit_bytes: int = MAX_JSON_BYTES) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit_bytes:
        raise ApiError(413, "too_large", f"the JSON body exceeds {limit_bytes} bytes")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit_bytes:
            raise ApiError(413, "too_large", f"the JSON body exceeds {limit_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_create_request(body: bytes) -> CreateJobRequest:
    try:
        # strict: `"strength": false` is not a number (the schema clients see says so)
        return CreateJobRequest.model_validate_json(body, strict=True)
    except ValidationError as exc:
        raise _invalid(exc) from None


def parse_options(text: str | None) -> JobOptions:
    if not text or text.strip() in ("", "null"):
        return JobOptions.model_validate({})
    try:
        return JobOptions.model_validate_json(text, strict=True)
    except ValidationError as exc:
        raise _invalid(exc, prefix="options") from None


def _invalid(exc: ValidationError, prefix: str = "") -> ApiError:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join([prefix] * bool(prefix) + [str(x) for x in err.get("loc", ())])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    return ApiError(422, "invalid_request", "; ".join(parts) or "invalid request")


def normalize_content_type(value: str) -> str:
    """`audio/webm;codecs=opus` → `audio/webm` (the presigned POST pins this exact value)."""
    return value.split(";", 1)[0].strip().lower()


def check_content_type(value: str, settings: Settings) -> str:
    content_type = normalize_content_type(value)
    if content_type not in settings.allowed_content_types:
        raise ApiError(
            415,
            "unsupported_content_type",
            f"content type {content_type!r} is not accepted; send one of: "
            + ", ".join(settings.allowed_content_types),
        )
    return content_type


def check_size(size_bytes: int, settings: Settings) -> None:
    if size_bytes > settings.max_upload_bytes:
        raise ApiError(
            413,
            "too_large",
            f"the file is larger than the limit of {settings.max_upload_bytes} bytes",
        )


async def check_webhook(options: JobOptions, settings: Settings) -> None:
    if options.webhook_url is None:
        return
    url = options.webhook_url
    try:
        await check_webhook_host(url.host, url.port, settings.webhook_allow_private)
    except WebhookRefused as exc:
        raise ApiError(422, "webhook_url_refused", str(exc)) from None


# -- creation (sync, in the thread pool) -------------------------------------------------------
def _iso(value: datetime | str | float) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, int | float):
        return _iso(datetime.fromtimestamp(value, UTC))
    return value


def _idempotency_ttl_s(settings: Settings) -> int:
    return max(settings.upload_ttl_s, settings.job_ttl_s)


def signing_may_block(storage: Any) -> bool:
    """Whether presigning may wait on the network (S3 credentials due for a refresh); the local
    backend and static keys never do."""
    check = getattr(storage, "signing_may_block", None)
    return bool(check is not None and check())


def _presign(b: Backends, job_id: str, content_type: str, size_bytes: int) -> UploadTarget:
    post = b.storage.presigned_post(
        input_key(job_id),
        content_type=content_type,
        max_bytes=min(size_bytes, b.settings.max_upload_bytes),
        expires_s=b.settings.upload_url_expiry_s,
    )
    return UploadTarget(url=post.url, fields=dict(post.fields), expires_at=_iso(post.expires_at))


def replay(
    b: Backends,
    scope: str,
    key: str,
    options: JobOptions | None,
    content_type: str | None = None,
    size_bytes: int | None = None,
) -> CreatedJob | None:
    """The job an earlier request with this Idempotency-Key created, with its (derived) token."""
    job_id = b.store.idempotent_job(scope, key)
    if job_id is None:
        return None
    token = idempotent_token(b.settings.signing_secret.get_secret_value(), job_id, key)
    job = b.store.authenticate(job_id, token)
    if job is None:
        raise ApiError(
            409,
            "idempotency_conflict",
            "this Idempotency-Key belongs to a job that no longer exists; use a new key",
        )
    if options is not None and job.options != options:
        # 409, not the IETF draft's 422: the request is valid, the key is taken (a conflict)
        raise ApiError(
            409,
            "idempotency_key_reused",
            "this Idempotency-Key was used with different options; use a new key",
        )
    upload = None
    if job.status == JobStatus.AWAITING_UPLOAD and content_type and size_bytes:
        upload = _presign(b, job_id, content_type, size_bytes)
    return CreatedJob(id=job.id, token=token, status=job.status, upload=upload)


def _new_job(
    b: Backends,
    key: str | None,
    options: JobOptions,
    status: JobStatus,
    ttl_s: int,
    job_id: str | None = None,
) -> tuple[Job, str]:
    job_id = job_id or new_job_id()
    secret = b.settings.signing_secret.get_secret_value()
    token = idempotent_token(secret, job_id, key) if key else new_token()
    job = b.store.create(
        job_id, hash_token(token), options, status, deadline_at=time.time() + ttl_s
    )
    return job, token


def _lost_race(b: Backends, scope: str, key: str, job: Job) -> bool:
    """Remember key → job; if a concurrent request with the same key won, retire ours."""
    winner = b.store.remember_idempotent(scope, key, job.id, _idempotency_ttl_s(b.settings))
    if winner == job.id:
        return False
    b.store.transition(job.id, JobStatus.CANCELLED, deadline_at=time.time())
    return True


def create_presigned_job(
    b: Backends, req: CreateJobRequest, content_type: str, scope: str, key: str | None
) -> tuple[CreatedJob, bool]:
    """(response, replayed) for JSON create."""
    if key and (found := replay(b, scope, key, req.options, content_type, req.size_bytes)):
        return found, True
    job, token = _new_job(b, key, req.options, JobStatus.AWAITING_UPLOAD, b.settings.upload_ttl_s)
    if key and _lost_race(b, scope, key, job):
        found = replay(b, scope, key, req.options, content_type, req.size_bytes)
        assert found is not None
        return found, True
    return _presigned_answer(b, job, token, content_type, req.size_bytes), False


async def create_fresh_presigned_job(
    b: Backends, req: CreateJobRequest, content_type: str
) -> CreatedJob:
    """`create_presigned_job` without an Idempotency-Key, on the event loop: one awaited Redis
    script, then a local HMAC (callers check `signing_may_block` first)."""
    assert b.astore is not None
    token = new_token()
    deadline_at = time.time() + b.settings.upload_ttl_s
    job = await b.astore.create(
        new_job_id(), hash_token(token), req.options, JobStatus.AWAITING_UPLOAD, deadline_at
    )
    return _presigned_answer(b, job, token, content_type, req.size_bytes)


def _presigned_answer(
    b: Backends, job: Job, token: str, content_type: str, size_bytes: int
) -> CreatedJob:
    upload = _presign(b, job.id, content_type, size_bytes)
    b.metrics.jobs_created.labels("presigned").inc()
    log_event(
        log,
        "job.created",
        job_id=job.id,
        mode="presigned",
        size_bytes=size_bytes,
        content_type=content_type,
    )
    return CreatedJob(id=job.id, token=token, status=job.status, upload=upload)


def enqueue_enhance(b: Backends, job_id: str) -> None:
    """Send the first stage by name; if the broker refuses, fail the job rather than strand it."""
    try:
        b.celery.send_task(TASK_ENHANCE, kwargs={"job_id": job_id}, queue=QUEUE_ENHANCE)
    except Exception as exc:
        log_event(
            log, "job.enqueue_failed", logging.ERROR, job_id=job_id, error_type=type(exc).__name__
        )
        b.store.transition(
            job_id,
            JobStatus.FAILED,
            deadline_at=time.time(),
            error={
                "code": "enqueue_failed",
                "message": "The job could not be queued; please retry.",
            },
        )
        raise ApiError(
            503, "unavailable", "the job queue is unavailable; retry shortly", {"Retry-After": "5"}
        ) from None
    log_event(log, "job.queued", job_id=job_id)


def create_uploaded_job(
    b: Backends,
    path: Path,
    content_type: str,
    size_bytes: int,
    options: JobOptions,
    scope: str,
    key: str | None,
) -> tuple[CreatedJob, bool]:
    """(response, replayed) for the multipart one-shot: store the file, create queued, enqueue."""
    job_id = new_job_id()
    b.storage.put_file(input_key(job_id), path, content_type)
    job, token = _new_job(b, key, options, JobStatus.QUEUED, b.settings.job_ttl_s, job_id)
    if key and _lost_race(b, scope, key, job):
        found = replay(b, scope, key, options)
        assert found is not None
        return found, True
    enqueue_enhance(b, job.id)
    b.metrics.jobs_created.labels("multipart").inc()
    log_event(
        log,
        "job.created",
        job_id=job.id,
        mode="multipart",
        size_bytes=size_bytes,
        content_type=content_type,
    )
    return CreatedJob(id=job.id, token=token, status=job.status, upload=None), False
