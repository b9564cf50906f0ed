"""speakup.client against a scripted server (httpx.MockTransport): backoff that honours
Retry-After, Idempotency-Key kept across a retried create, no retry where retrying cannot help,
polling at the pace the api asks for, and upload progress that reaches the file's size."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from speakup.client import JobFailed, JobHandle, SpeakUpClient, SpeakUpError, UploadTarget

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, slept: list[float], **kwargs) -> SpeakUpClient:
    return SpeakUpClient("http://api.test", transport=httpx.MockTransport(handler),
                         sleep=slept.append, **kwargs)


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": code}},
                          headers=headers)


def test_create_retries_after_429_and_503_with_the_same_idempotency_key(tmp_path: Path):
    src = tmp_path / "memo.m4a"
    src.write_bytes(b"x" * 1000)
    keys: list[str] = []
    answers = [_error(429, "rate_limited", {"Retry-After": "7"}), _error(503, "unavailable"),
               httpx.Response(201, json={"id": "j1", "token": "t", "status": "awaiting_upload",
                                         "upload": {"url": "http://s3.test/b", "fields": {
                                             "key": "jobs/j1/input", "Content-Type": "audio/mp4"},
                                             "expires_at": "2030-01-01T00:00:00Z"}})]

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        body = json.loads(request.content)
        assert body == {"filename": "memo.m4a", "content_type": "audio/mp4", "size_bytes": 1000,
                        "options": {"preset": "video"}}
        return answers.pop(0)

    slept: list[float] = []
    job = _client(handler, slept, backoff_s=0.5).create(src, {"preset": "video"})
    assert job.id == "j1" and job.upload is not None and job.upload.fields["key"]
    assert slept == [7.0, 1.0]  # Retry-After first, then exponential backoff (0.5 × 2¹)
    assert len(set(keys)) == 1 and len(keys[0]) >= 16


def test_no_retry_where_it_cannot_help():
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return _error(415, "unsupported_content_type")

    slept: list[float] = []
    with pytest.raises(SpeakUpError) as info:
        _client(handler, slept).status(JobHandle("j", "t"))
    assert info.value.code == "unsupported_content_type" and not info.value.transient
    assert calls == [1] and slept == []


def test_gives_up_after_max_retries_on_a_dead_connection():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    slept: list[float] = []
    with pytest.raises(SpeakUpError) as info:
        _client(handler, slept, max_retries=3, backoff_s=1.0, max_backoff_s=3.0).submit(
            JobHandle("j", "t"))
    assert info.value.code == "connection_failed"
    assert slept == [1.0, 2.0, 3.0]  # capped


def test_wait_polls_at_the_pace_the_api_asks_for_and_raises_on_failure():
    states = [("queued", "2"), ("enhancing", "1"), ("upsampling", "1"), ("failed", None)]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer tok"
        status, retry = states.pop(0)
        body = {"id": "j", "status": status, "progress": 0.5,
                "error": {"code": "worker_lost", "message": "stopped 3 times"}
                if status == "failed" else None}
        return httpx.Response(200, json=body, headers={"Retry-After": retry} if retry else {})

    slept: list[float] = []
    seen: list[str] = []
    with pytest.raises(JobFailed) as info:
        _client(handler, slept).wait(JobHandle("j", "tok"), on_update=lambda s: seen.append(
            s.status))
    assert info.value.code == "worker_lost"
    assert seen == ["queued", "enhancing", "upsampling", "failed"]
    assert slept == [2.0, 1.0, 1.0]


def test_upload_sends_fields_then_the_file_with_a_length_and_reports_progress(tmp_path: Path):
    src = tmp_path / "take.wav"
    payload = bytes(range(256)) * 1000  # 256 kB
    src.write_bytes(payload)
    received: dict[str, object] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.host == "s3.test" and "Authorization" not in request.headers
        received["length"] = int(request.headers["Content-Length"])
        body = request.read()
        received["fields_first"] = body.index(b'name="key"') < body.index(b'name="file"')
        received["has_file"] = payload in body
        return httpx.Response(204)

    progress: list[tuple[int, int]] = []
    job = JobHandle("j", "t", upload=UploadTarget(
        "http://s3.test/bucket", {"key": "jobs/j/input", "Content-Type": "audio/wav"}, "x"))
    _client(handler, []).upload(job, src, lambda sent, total: progress.append((sent, total)))
    assert received["fields_first"] and received["has_file"]
    assert int(received["length"]) > len(payload)  # not chunked: storage can check the size
    assert progress[-1] == (len(payload), len(payload)) and len(progress) >= 4


def test_an_expired_upload_reads_as_upload_expired(tmp_path: Path):
    src = tmp_path / "take.wav"
    src.write_bytes(b"x" * 100)
    xml = ("<?xml version='1.0'?><Error><Code>AccessDenied</Code>"
           "<Message>Invalid according to Policy: Policy expired.</Message></Error>")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, text=xml, headers={"Content-Type": "application/xml"})

    job = JobHandle("j", "t", upload=UploadTarget("http://s3.test/b", {"key": "k"}, "x"))
    with pytest.raises(SpeakUpError) as info:
        _client(handler, []).upload(job, src)
    assert info.value.code == "upload_expired" and info.value.status_code == 403
