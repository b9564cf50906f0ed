"""Content types, sizes and malformed requests: one error shape, the right status, no leftovers."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from api_support import create_json, upload, wav_bytes
from fastapi.testclient import TestClient

pytest_plugins = ["api_support"]  # fixtures: client, make_client, redis_client


def _error(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return dict(body["error"])


@pytest.mark.parametrize("content_type", ["text/html", "image/png", "application/x-sh", "audio"])
def test_disallowed_content_type_is_415(client: TestClient, content_type: str) -> None:
    response = create_json(client, 100, content_type=content_type)
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_content_type"


def test_content_type_parameters_are_dropped_and_pinned(client: TestClient) -> None:
    response = create_json(client, 100, content_type="Audio/WebM; codecs=opus")
    assert response.status_code == 201
    target = response.json()["upload"]
    [name] = [k for k, v in target["fields"].items() if v == "audio/webm"]
    # the presigned POST refuses another content type than the one the job was created with
    tampered = {**target, "fields": {**target["fields"], name: "text/html"}}
    assert upload(client, tampered, b"x" * 100).status_code == 403
    assert upload(client, target, b"x" * 100).status_code == 204


def test_request_body_of_another_type_is_415(client: TestClient) -> None:
    response = client.post("/v1/jobs", content=b"hello", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"
    assert client.post("/v1/jobs", content=b"{}").status_code == 415  # no content type at all


def test_declared_size_over_the_cap_is_413(make_client: Any) -> None:
    client = make_client(max_upload_bytes=4096)
    response = create_json(client, 4097)
    assert response.status_code == 413 and _error(response)["code"] == "too_large"
    assert create_json(client, 4096).status_code == 201


def test_presigned_upload_larger_than_declared_is_refused(client: TestClient) -> None:
    created = create_json(client, 1000).json()
    response = upload(client, created["upload"], b"x" * 1001)
    assert response.status_code == 400 and b"EntityTooLarge" in response.content


def test_multipart_over_the_cap_is_413_and_leaves_nothing(
    make_client: Any, redis_client: Any
) -> None:
    client = make_client(max_upload_bytes=4096)
    tmp_before = set(Path(tempfile.gettempdir()).glob("speakup-upload-*"))
    response = client.post("/v1/jobs", files={"file": ("big.wav", b"\0" * 20_000, "audio/wav")})
    assert response.status_code == 413 and _error(response)["code"] == "too_large"
    assert set(Path(tempfile.gettempdir()).glob("speakup-upload-*")) == tmp_before
    assert client.app.state.storage.list_prefix("jobs/") == []  # type: ignore[attr-defined]
    assert redis_client.llen("enhance") == 0
    assert redis_client.keys("speakup:job:*") == []
    ok = client.post("/v1/jobs", files={"file": ("ok.wav", b"\0" * 4096, "audio/wav")})
    assert ok.status_code == 201


def test_multipart_streamed_without_content_length_is_capped(make_client: Any) -> None:
    client = make_client(max_upload_bytes=4096)
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"'
        f"\r\nContent-Type: audio/wav\r\n\r\n"
    ).encode()

    def body() -> Any:  # chunked transfer: no Content-Length to refuse early
        yield head
        for _ in range(40):
            yield b"\0" * 1024
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/v1/jobs",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413


def test_multipart_file_of_disallowed_type_is_415(client: TestClient) -> None:
    response = client.post("/v1/jobs", files={"file": ("x.html", b"<html>", "text/html")})
    assert response.status_code == 415 and _error(response)["code"] == "unsupported_content_type"


@pytest.mark.parametrize(
    "files,code",
    [
        ({"other": ("a.wav", b"xx", "audio/wav")}, "invalid_request"),
        ({"options": (None, "{}")}, "invalid_request"),
        ({"file": ("a.wav", b"", "audio/wav")}, "empty_file"),
    ],
)
def test_multipart_without_a_usable_file_is_422(client: TestClient, files: Any, code: str) -> None:
    response = client.post("/v1/jobs", files=files)
    assert response.status_code == 422 and _error(response)["code"] == code


def test_malformed_multipart_is_422(client: TestClient) -> None:
    response = client.post(
        "/v1/jobs", content=b"garbage", headers={"Content-Type": "multipart/form-data; boundary=zz"}
    )
    assert response.status_code == 422 and _error(response)["code"] == "invalid_request"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"content_type": "audio/wav"}',
        b'{"content_type": "audio/wav", "size_bytes": 0}',
        b'{"content_type": "audio/wav", "size_bytes": 10, "options": {"sample_rate_hz": 8000}}',
        b'{"content_type": "audio/wav", "size_bytes": 10, "options": {"engine": "../../x"}}',
        b'{"content_type": "audio/wav", "size_bytes": 10, "options": {"colour": "red"}}',
    ],
)
def test_invalid_json_body_is_422_invalid_request(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "invalid_request" and "Traceback" not in error["message"]


def test_json_body_over_64_kib_is_413(client: TestClient) -> None:
    body = b'{"content_type": "audio/wav", "size_bytes": 10, "filename": "' + b"a" * 70_000 + b'"}'
    response = client.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_unknown_route_and_method_use_the_error_shape(client: TestClient) -> None:
    assert _error(client.get("/v2/nothing"))["code"] == "not_found"
    response = client.put("/v1/jobs")
    assert response.status_code == 405 and _error(response)["code"] == "method_not_allowed"


def test_job_answers_are_never_cached(client: TestClient) -> None:
    response = create_json(client, 10)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["location"] == f"/v1/jobs/{response.json()['id']}"


def test_wav_helper_is_real_audio() -> None:
    data = wav_bytes(0.5, 16000)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) == 44 + 16000
