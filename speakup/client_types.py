"""The client's types: errors, job handles and job states (see speakup.client)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
FINISHED = frozenset({"succeeded", "downloaded", "purged", "failed", "expired", "cancelled"})


class SpeakUpError(Exception):
    """The api (or storage) answered an error; `code` is the api's machine-readable code."""

    def __init__(self, status_code: int, code: str, message: str,
                 retry_after_s: float | None = None) -> None:
        super().__init__(f"{message} ({code}, HTTP {status_code})")
        self.status_code, self.code, self.message = status_code, code, message
        self.retry_after_s = retry_after_s

    @property
    def transient(self) -> bool:
        return self.status_code in RETRY_STATUS or self.status_code == 0


class JobFailed(SpeakUpError):
    """The job ended without a result (failed, expired or cancelled)."""

    def __init__(self, state: JobState) -> None:
        error = state.error or {"code": state.status, "message": f"the job {state.status}"}
        super().__init__(200, str(error["code"]), str(error["message"]))
        self.state = state


@dataclass(frozen=True)
class UploadTarget:
    url: str
    fields: dict[str, str]
    expires_at: str


@dataclass(frozen=True)
class JobHandle:
    """What a job route needs: the id and the bearer token (shown once, at create)."""

    id: str
    token: str
    status: str = "awaiting_upload"
    upload: UploadTarget | None = None


@dataclass(frozen=True)
class JobState:
    """`GET /v1/jobs/{id}` as returned, with typed shortcuts for the fields scripts use."""

    raw: dict[str, Any]
    retry_after_s: float | None = None

    status: str = field(init=False)
    progress: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", str(self.raw.get("status", "")))
        object.__setattr__(self, "progress", float(self.raw.get("progress") or 0.0))

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def stage(self) -> str:
        return str(self.raw.get("stage") or "")

    @property
    def error(self) -> dict[str, Any] | None:
        return self.raw.get("error")

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.raw.get("metrics") or {})

    @property
    def engine(self) -> dict[str, Any]:
        return dict(self.raw.get("engine") or {})

    @property
    def result(self) -> dict[str, Any] | None:
        return self.raw.get("result")

    @property
    def deletion(self) -> dict[str, Any] | None:
        return self.raw.get("deletion")


def error_from(response: httpx.Response) -> SpeakUpError:
    """The api's `{"error": {code, message}}`, or storage's XML error, as a SpeakUpError."""
    retry_after = response.headers.get("Retry-After")
    retry_s = float(retry_after) if retry_after and retry_after.isdigit() else None
    try:
        body = response.json()
        error = body["error"]
        return SpeakUpError(response.status_code, str(error["code"]), str(error["message"]),
                            retry_s)
    except (ValueError, KeyError, TypeError):
        pass
    text = response.text[:2000]
    code = _xml_tag(text, "Code") or f"http_{response.status_code}"
    message = _xml_tag(text, "Message") or response.reason_phrase or "request failed"
    if "expired" in message.lower():
        code = "upload_expired" if response.request.method == "POST" else "url_expired"
    return SpeakUpError(response.status_code, code, message, retry_s)


def _xml_tag(text: str, tag: str) -> str | None:
    start, end = text.find(f"<{tag}>"), text.find(f"</{tag}>")
    return text[start + len(tag) + 2:end] if 0 <= start < end else None
