"""The public request and response bodies of the v1 API (names fixed by the REST contract)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.jobs.model import JobError, JobOptions, JobStatus


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. not_found, upload_missing")
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


def _integral_float_to_int(value: Any) -> Any:
    # JSON Schema's "integer" admits 8258.0; strict parsing (creation.py) would refuse it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class CreateJobRequest(BaseModel):
    """JSON create: the api answers with a presigned POST the client uploads the file to."""

    model_config = ConfigDict(extra="ignore")

    filename: str | None = Field(
        None, max_length=255, description="informational only; never used in storage keys"
    )
    content_type: str = Field(min_length=1, max_length=255, examples=["audio/mp4"])
    size_bytes: Annotated[int, BeforeValidator(_integral_float_to_int)] = Field(
        ge=1, description="exact size of the file to upload"
    )
    options: JobOptions = Field(default_factory=lambda: JobOptions.model_validate({}))


class MultipartCreateRequest(BaseModel):
    """Multipart one-shot create (documentation only: the body is parsed as a stream)."""

    model_config = ConfigDict(extra="forbid")  # uploads.py refuses other parts

    file: bytes = Field(min_length=1, json_schema_extra={"format": "binary"})
    options: JobOptions = Field(
        default_factory=lambda: JobOptions.model_validate({}),
        description="JobOptions as JSON text (OpenAPI's default encoding of an object part)",
    )


class UploadTarget(BaseModel):
    url: str = Field(description="POST the file here as multipart/form-data")
    fields: dict[str, str] = Field(description="form fields to send before the `file` part")
    expires_at: str


class CreatedJob(BaseModel):
    id: str
    token: str = Field(description="bearer token for every route of this job; shown only here")
    status: JobStatus
    upload: UploadTarget | None = Field(
        None, description="present while the job awaits its upload (JSON create)"
    )


class SubmittedJob(BaseModel):
    id: str
    status: JobStatus


class ResultView(BaseModel):
    download_url: str = Field(description="GET with the bearer token → 303 to the file")
    expires_at: str | None = Field(description="when the output will be erased")
    sample_rate_hz: int
    format: str


class TimelineEntry(BaseModel):
    status: str
    at: str


class JobView(BaseModel):
    id: str
    status: JobStatus
    stage: str
    progress: float = Field(ge=0.0, le=1.0)
    created_at: str
    updated_at: str
    expires_at: str | None = Field(None, description="when this job's data will be erased")
    options: JobOptions
    input: dict[str, Any] | None
    engine: dict[str, Any] | None
    metrics: dict[str, Any]
    error: JobError | None
    result: ResultView | None
    deletion: dict[str, Any] | None = Field(description="the deletion receipt once erased")
    timeline: list[TimelineEntry]
    attempts: dict[str, int]


class DownloadLink(BaseModel):
    """`GET /v1/jobs/{id}/result` with `Accept: application/json` (for browsers)."""

    download_url: str
    expires_at: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]
