"""The job: its states, the moves between them, its options, and its public view.

`awaiting_upload → queued → enhancing → upsampling → succeeded → downloaded → purged`; from any
state before `succeeded` a job may end `failed`, `expired` or `cancelled`. A stage delivered twice
can never move a job backwards: every change names the states it may leave from (compare-and-set
in the store).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl


class JobStatus(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    QUEUED = "queued"
    ENHANCING = "enhancing"
    UPSAMPLING = "upsampling"
    SUCCEEDED = "succeeded"
    DOWNLOADED = "downloaded"
    PURGED = "purged"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


S = JobStatus
RUNNING = frozenset({S.QUEUED, S.ENHANCING, S.UPSAMPLING})
BEFORE_SUCCESS = frozenset({S.AWAITING_UPLOAD, *RUNNING})
FINISHED = frozenset({S.SUCCEEDED, S.DOWNLOADED, S.PURGED, S.FAILED, S.EXPIRED, S.CANCELLED})

# status → the statuses it may be entered from
ALLOWED_FROM: dict[JobStatus, frozenset[JobStatus]] = {
    S.QUEUED: frozenset({S.AWAITING_UPLOAD}),
    S.ENHANCING: frozenset({S.QUEUED}),
    S.UPSAMPLING: frozenset({S.ENHANCING}),
    S.SUCCEEDED: frozenset({S.UPSAMPLING}),
    S.DOWNLOADED: frozenset({S.SUCCEEDED}),
    S.PURGED: frozenset({S.SUCCEEDED, S.DOWNLOADED}),
    S.FAILED: BEFORE_SUCCESS,
    S.EXPIRED: BEFORE_SUCCESS,
    S.CANCELLED: BEFORE_SUCCESS,
}

# Coarse progress at the start of each stage; stages report their own fraction in between.
STAGE_SPAN: dict[JobStatus, tuple[float, float]] = {
    S.AWAITING_UPLOAD: (0.0, 0.0),
    S.QUEUED: (0.0, 0.05),
    S.ENHANCING: (0.05, 0.65),
    S.UPSAMPLING: (0.65, 1.0),
}


def can_move(current: JobStatus, target: JobStatus) -> bool:
    return current in ALLOWED_FROM.get(target, frozenset())


Preset = Literal["podcast", "broadcast", "video", "none"]
# shared.audio.formats.FORMATS, plus "video": the input's own container (mp4, mov, mkv, webm)
OutputFormatName = Literal["wav", "flac", "mp3", "m4a", "opus", "video", "mp4", "mov", "mkv",
                           "webm"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _whole_float_to_int(value: Any) -> Any:
    # JSON Schema's "integer" admits 128.0; strict parsing (api creation) would refuse it.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _one_line(value: str | None) -> str | None:
    # A tag is one line of text: control characters (newlines, NUL) become spaces.
    return None if value is None else _CONTROL.sub(" ", value).strip() or None


Tag = Annotated[str | None, AfterValidator(_one_line)]


class JobOptions(BaseModel):
    """What the client asked for; every field optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: Preset = "podcast"
    strength: float = Field(1.0, ge=0.0, le=1.0)
    sample_rate_hz: Literal[48000, 44100, 16000] = 48000
    format: OutputFormatName = Field("wav", description=(
        "wav, flac (lossless, bit_depth applies), mp3 (VBR unless bitrate_kbps), m4a (AAC), opus "
        "(Ogg Opus, always 48 kHz); video: the input's container with its video stream(s) copied "
        "and the audio as AAC (mp4/mov) or Opus (mkv/webm); mp4, mov, mkv, webm name it"))
    bit_depth: Literal[16, 24] = 24
    bitrate_kbps: Annotated[int | None, BeforeValidator(_whole_float_to_int)] = Field(
        None, ge=32, le=320, description=(
        "lossy formats: the audio bit rate (mp3: constant at this rate); default mp3 VBR -V2, "
        "AAC 128 (160 in video), Opus 96 (128 in video)"))
    title: Tag = Field(None, max_length=200, description="title tag, where the container has one")
    artist: Tag = Field(None, max_length=200,
                        description="artist tag, where the container has one")
    engine: str = Field("auto", pattern=r"^[a-z0-9_\-]{1,32}$")
    upsampler: str = Field("auto", pattern=r"^[a-z0-9_\-]{1,32}$")
    webhook_url: HttpUrl | None = None


class JobError(BaseModel):
    code: str
    message: str


class JobResult(BaseModel):
    download_url: str
    expires_at: str
    sample_rate_hz: int
    format: str


class Job(BaseModel):
    """A job as stored (without its token hash)."""

    id: str
    status: JobStatus
    stage: str
    progress: float = 0.0
    created_at: str
    updated_at: str
    options: JobOptions
    input: dict[str, Any] | None = None
    engine: dict[str, Any] | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    error: JobError | None = None
    output: dict[str, Any] | None = None  # {key, sample_rate_hz, format, bytes}
    deletion: dict[str, Any] | None = None
    attempts: dict[str, int] = Field(default_factory=dict)
    timeline: list[tuple[str, str]] = Field(default_factory=list)
    deadline_at: float | None = None
    downloaded_at: str | None = None
    client: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED
