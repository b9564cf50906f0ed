"""The v1 job routes (names fixed by the REST contract in ARCHITECTURE.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from services.api import lifecycle
from services.api.creation import (
    Backends,
    check_content_type,
    check_size,
    check_webhook,
    create_fresh_presigned_job,
    create_presigned_job,
    create_uploaded_job,
    normalize_content_type,
    parse_create_request,
    parse_options,
    read_limited_body,
    replay,
    signing_may_block,
)
from services.api.deps import AuthedJob, BackendsDep, client_id, run_io
from services.api.errors import ApiError
from services.api.schemas import CreatedJob, DownloadLink, ErrorBody, JobView, SubmittedJob
from services.api.tokens import IDEMPOTENCY_KEY_PATTERN, valid_idempotency_key
from services.api.uploads import parse_multipart
from services.api.views import status_answer

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}

# The create route reads its body and its Idempotency-Key header itself (one path operation,
# two content types), so both are documented here.
_CREATE_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/CreateJobRequest"}},
            "multipart/form-data": {
                "schema": {"$ref": "#/components/schemas/MultipartCreateRequest"}
            },
        },
    },
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "makes a retried create return the same job and token",
            "schema": {
                "type": "string",
                "minLength": 16,
                "maxLength": 255,
                "pattern": IDEMPOTENCY_KEY_PATTERN,
            },
        }
    ],
}
_CREATE_DOC = """Create a job.

* `application/json` (`CreateJobRequest`): answers a presigned POST in `upload`; POST the file
  there as multipart/form-data with `upload.fields` first and the file last (part `file`), then
  call `POST /v1/jobs/{id}/submit`.
* `multipart/form-data` (parts `file`, optional `options` as a JSON string): one-shot upload
  through the gateway; the job starts `queued`.

`Idempotency-Key` (16–255 printable characters, e.g. a random UUID; keep it secret like the
token): a repeat from the same client returns the same job and token (`Idempotent-Replayed:
true`). The token of such a job is derived, never stored:
`base64url(HMAC-SHA256(signing_secret, "job-token\\0" + id + "\\0" + key))`.
"""


@router.post(
    "",
    status_code=201,
    response_model=CreatedJob,
    summary="Create a job",
    description=_CREATE_DOC,
    openapi_extra=_CREATE_OPENAPI,
    responses={
        **_errors(409, 413, 415, 422, 503),
        429: {"model": ErrorBody, "headers": _RETRY_AFTER},
    },
)
async def create_job(request: Request, b: BackendsDep) -> Response:
    media = normalize_content_type(request.headers.get("content-type", ""))
    if media not in ("application/json", "multipart/form-data"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send application/json (presigned upload) or multipart/form-data",
        )
    key = raw_key = request.headers.get("idempotency-key")
    if raw_key is not None and (key := valid_idempotency_key(raw_key)) is None:
        raise ApiError(
            422,
            "invalid_request",
            "Idempotency-Key must be 16–255 printable ASCII "
            "characters without spaces (use a random UUID)",
        )
    client = client_id(request)
    decision = await request.app.state.limiter.hit_async(client)
    if not decision.allowed:
        raise ApiError(
            429,
            "rate_limited",
            "too many jobs created; slow down",
            {"Retry-After": str(decision.retry_after_s)},
        )
    if media == "application/json":
        req = parse_create_request(await read_limited_body(request))
        content_type = check_content_type(req.content_type, b.settings)
        check_size(req.size_bytes, b.settings)
        await check_webhook(req.options, b.settings)
        if key or signing_may_block(b.storage):
            created, replayed = await run_io(
                create_presigned_job, b, req, content_type, f"json:{client}", key
            )
        else:  # the common case, on the loop: no thread-pool hop, no blocking call
            created, replayed = await create_fresh_presigned_job(b, req, content_type), False
    else:
        created, replayed = await _create_multipart(request, b, f"multipart:{client}", key)
    headers = {"Location": f"/v1/jobs/{created.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(created.model_dump(mode="json"), status_code=201, headers=headers)


async def _create_multipart(
    request: Request, b: Backends, scope: str, key: str | None
) -> tuple[CreatedJob, bool]:
    upload = await parse_multipart(
        request, b.settings.max_upload_bytes, tuple(b.settings.allowed_content_types)
    )
    try:
        if upload.path is None:
            raise ApiError(422, "invalid_request", "the multipart body has no `file` part")
        if upload.size_bytes == 0:
            raise ApiError(422, "empty_file", "the file is empty")
        content_type = check_content_type(upload.content_type, b.settings)
        options = parse_options(upload.options_json)
        await check_webhook(options, b.settings)
        # A repeat is validated like the first request, then answered without storing again.
        if key and (found := await run_io(replay, b, scope, key, options)):
            return found, True
        result: tuple[CreatedJob, bool] = await run_io(
            create_uploaded_job,
            b,
            upload.path,
            content_type,
            upload.size_bytes,
            options,
            scope,
            key,
        )
        return result
    finally:
        if upload.path is not None:
            upload.path.unlink(missing_ok=True)


@router.post(
    "/{id}/submit",
    status_code=202,
    response_model=SubmittedJob,
    summary="Start processing after the upload",
    responses=_errors(404, 409, 503),
)
async def submit_job(job: AuthedJob, b: BackendsDep) -> SubmittedJob:
    status = await run_io(lifecycle.submit, b, job)
    return SubmittedJob(id=job.id, status=status)


@router.get(
    "/{id}",
    response_model=JobView,
    summary="Status, progress, measurements, result",
    responses={200: {"headers": _RETRY_AFTER}, **_errors(404)},
)
async def get_job(request: Request, job: AuthedJob) -> Response:
    # Polls are normally answered by fastpath.JobStatusFastPath before they reach this route;
    # both build the answer with the same function.
    body, headers = status_answer(job, request.app.state.settings.public_base_url)
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/{id}/result",
    summary="Download the result (303 to a short-lived URL)",
    response_class=RedirectResponse,
    status_code=303,
    responses={
        303: {
            "description": "redirect to a fresh presigned GET of the output",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        200: {
            "model": DownloadLink,
            "description": "the same URL as JSON, when the request "
            "sends `Accept: application/json` (browsers cannot read a cross-origin Location)",
        },
        **_errors(404, 410),
        409: {"model": ErrorBody, "headers": _RETRY_AFTER},
    },
)
async def get_result(request: Request, job: AuthedJob, b: BackendsDep) -> Response:
    url, expires_at = await run_io(lifecycle.open_result, b, job)
    if _wants_json(request.headers.get("accept", "")):
        return JSONResponse(DownloadLink(download_url=url, expires_at=expires_at).model_dump())
    return RedirectResponse(url, status_code=303)


def _wants_json(accept: str) -> bool:
    return "application/json" in {
        part.split(";", 1)[0].strip().lower() for part in accept.split(",")
    }


@router.delete(
    "/{id}",
    status_code=204,
    response_class=Response,
    summary="Cancel if running and erase everything now",
    responses=_errors(404),
)
async def delete_job(job: AuthedJob, b: BackendsDep) -> Response:
    await run_io(lifecycle.erase, b, job)
    return Response(status_code=204)
