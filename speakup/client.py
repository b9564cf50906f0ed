"""A small typed client for SpeakUp's REST API (v1).

    from speakup.client import SpeakUpClient

    with SpeakUpClient("http://127.0.0.1:8000") as api:
        state = api.enhance("memo.m4a", "memo.wav", {"preset": "podcast"})
        print(state.metrics["output_lufs"], state.engine)

The steps one by one: `create` → `upload` (straight to storage through the presigned POST) →
`submit` → `wait` (polls, honouring `Retry-After`) → `download` → `delete`; `create_multipart`
is the one-shot upload through the gateway. Transient failures (connection errors, 429, 5xx)
are retried with exponential backoff that honours `Retry-After`; creates carry an
`Idempotency-Key`, so a retried create can never make two jobs.
"""

from __future__ import annotations

import json
import mimetypes
import os
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from speakup.client_types import (
    JobFailed,
    JobHandle,
    JobState,
    SpeakUpError,
    UploadTarget,
    error_from,
)

__all__ = ["SpeakUpClient", "SpeakUpError", "JobFailed", "JobHandle", "JobState", "UploadTarget",
           "content_type_for"]
FAILED = frozenset({"failed", "expired", "cancelled"})
DONE = frozenset({"succeeded", "downloaded", "purged"})
# What the api accepts, by extension: the content type only routes the upload; the worker
# decodes the bytes and never trusts it.
CONTENT_TYPES = {
    ".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".m4a": "audio/mp4",
    ".aac": "audio/aac", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/opus",
    ".webm": "audio/webm", ".mp4": "video/mp4", ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
}

Progress = Callable[[int, int], None]  # (bytes sent, total bytes)


def content_type_for(path: Path | str) -> str:
    suffix = Path(path).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(str(path))[0] or \
        "application/octet-stream"


class _CountingReader:
    """A file wrapper that reports how much of it httpx has read (= sent)."""

    def __init__(self, handle: BinaryIO, total: int, progress: Progress | None) -> None:
        self._handle, self._total, self._progress, self._sent = handle, total, progress, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        self._sent += len(chunk)
        if self._progress is not None:
            self._progress(self._sent, self._total)
        return chunk

    # httpx sizes the multipart body from these (a body without a length would go chunked,
    # which a presigned POST's content-length-range cannot check).
    def fileno(self) -> int:
        return self._handle.fileno()

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._handle.seek(offset, whence)
        self._sent = position
        return position

    def tell(self) -> int:
        return self._handle.tell()


class SpeakUpClient:
    def __init__(self, base_url: str, *, timeout_s: float = 60.0, max_retries: int = 5,
                 backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_retries, self.backoff_s, self.max_backoff_s = max_retries, backoff_s, max_backoff_s
        self._sleep = sleep
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport)
        # Storage (presigned URLs) is another origin; no api headers ever go there.
        self._storage = httpx.Client(timeout=timeout_s, transport=transport)

    def __enter__(self) -> SpeakUpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        self._storage.close()

    # -- plumbing ---------------------------------------------------------------------------
    def _request(self, method: str, url: str, *, job: JobHandle | None = None,
                 client: httpx.Client | None = None, **kwargs: Any) -> httpx.Response:
        """One request with retries on transient failures; raises SpeakUpError otherwise."""
        headers = dict(kwargs.pop("headers", None) or {})
        if job is not None:
            headers["Authorization"] = f"Bearer {job.token}"
        rewind = kwargs.pop("rewind", None)
        for attempt in range(self.max_retries + 1):
            if rewind is not None:
                rewind()
            try:
                response = (client or self._http).request(method, url, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                failure = SpeakUpError(0, "connection_failed", f"{type(exc).__name__}: {exc}")
            else:
                if response.status_code < 400:
                    return response
                failure = error_from(response)
            if not failure.transient or attempt == self.max_retries:
                raise failure
            self._sleep(self._backoff(attempt, failure.retry_after_s))
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, self.max_backoff_s)
        return min(self.backoff_s * 2**attempt, self.max_backoff_s)

    # -- the job routes ---------------------------------------------------------------------
    def create(self, path: Path | str, options: Mapping[str, Any] | None = None, *,
               content_type: str | None = None, idempotency_key: str | None = None) -> JobHandle:
        """`POST /v1/jobs` (JSON): a job awaiting its upload, with the presigned POST."""
        path = Path(path)
        body = {"filename": path.name, "content_type": content_type or content_type_for(path),
                "size_bytes": path.stat().st_size, "options": dict(options or {})}
        key = idempotency_key or str(uuid.uuid4())
        data = self._request("POST", "/v1/jobs", json=body,
                             headers={"Idempotency-Key": key}).json()
        upload = data.get("upload")
        return JobHandle(data["id"], data["token"], data["status"],
                         UploadTarget(upload["url"], dict(upload["fields"]), upload["expires_at"])
                         if upload else None)

    def upload(self, job: JobHandle, path: Path | str, progress: Progress | None = None) -> None:
        """POST the file to the presigned target (fields first, the file last)."""
        if job.upload is None:
            raise ValueError("this job has no upload target (already uploaded?)")
        path = Path(path)
        total = path.stat().st_size
        with path.open("rb") as handle:
            reader = _CountingReader(handle, total, progress)
            ctype = job.upload.fields.get("Content-Type", "application/octet-stream")
            self._request("POST", job.upload.url, client=self._storage, data=job.upload.fields,
                          files={"file": (path.name, reader, ctype)},  # type: ignore[dict-item]
                          rewind=lambda: handle.seek(0))

    def create_multipart(self, path: Path | str, options: Mapping[str, Any] | None = None, *,
                         idempotency_key: str | None = None) -> JobHandle:
        """One-shot `POST /v1/jobs` as multipart/form-data: the job starts queued."""
        path = Path(path)
        with path.open("rb") as handle:
            data = self._request(
                "POST", "/v1/jobs", data={"options": json.dumps(dict(options or {}))},
                files={"file": (path.name, handle, content_type_for(path))},
                headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
                rewind=lambda: handle.seek(0)).json()
        return JobHandle(data["id"], data["token"], data["status"])

    def submit(self, job: JobHandle) -> str:
        return str(self._request("POST", f"/v1/jobs/{job.id}/submit", job=job).json()["status"])

    def status(self, job: JobHandle) -> JobState:
        response = self._request("GET", f"/v1/jobs/{job.id}", job=job)
        retry_after = response.headers.get("Retry-After")
        return JobState(response.json(), float(retry_after) if retry_after else None)

    def wait(self, job: JobHandle, *, timeout_s: float = 3600.0,
             on_update: Callable[[JobState], None] | None = None,
             until: frozenset[str] = DONE) -> JobState:
        """Poll until the job reaches one of `until` (default: it has a result); waits what the
        api's `Retry-After` says between polls. Raises JobFailed when it failed, expired or was
        cancelled, TimeoutError past `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.status(job)
            if on_update is not None:
                on_update(state)
            if state.status in until:
                return state
            if state.status in FAILED:
                raise JobFailed(state)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job.id} still {state.status} after {timeout_s:.0f} s")
            wait_s = state.retry_after_s if state.retry_after_s is not None else 2.0
            self._sleep(max(0.0, min(wait_s, deadline - time.monotonic())))

    def result_url(self, job: JobHandle) -> str:
        """A fresh short-lived download URL (the first call starts the download grace)."""
        response = self._request("GET", f"/v1/jobs/{job.id}/result", job=job,
                                 headers={"Accept": "application/json"})
        return str(response.json()["download_url"])

    def download(self, job: JobHandle, dst: Path | str) -> Path:
        """Stream the result to `dst` (written beside it, then renamed)."""
        dst = Path(dst)
        tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.part")
        try:
            for attempt in range(self.max_retries + 1):
                url = self.result_url(job)
                try:
                    with self._storage.stream("GET", url) as response, tmp.open("wb") as out:
                        if response.status_code >= 400:
                            raise error_from(response)
                        for chunk in response.iter_bytes(256 * 1024):
                            out.write(chunk)
                    break
                except httpx.TransportError:
                    if attempt == self.max_retries:
                        raise
                    self._sleep(self._backoff(attempt, None))
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
        return dst

    def delete(self, job: JobHandle) -> None:
        """Cancel if running and erase everything now (idempotent)."""
        self._request("DELETE", f"/v1/jobs/{job.id}", job=job)

    # -- the whole flow ---------------------------------------------------------------------
    def enhance(self, src: Path | str, dst: Path | str, options: Mapping[str, Any] | None = None,
                *, timeout_s: float = 3600.0, erase: bool = True,
                on_update: Callable[[JobState], None] | None = None) -> JobState:
        """create → upload → submit → wait → download → delete; returns the final job state
        (with its deletion receipt when `erase`)."""
        job = self.create(src, options)
        self.upload(job, src)
        self.submit(job)
        state = self.wait(job, timeout_s=timeout_s, on_update=on_update)
        self.download(job, dst)
        if erase:
            self.delete(job)
            state = self.status(job)
        return state
