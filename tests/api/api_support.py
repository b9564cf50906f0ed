"""Fixtures and helpers for the api tests (imported by each test module; not a conftest).

The api runs in-process (Starlette TestClient, lifespan included) against a real redis-server on
127.0.0.1 and the local storage backend served by the api itself. Redis database 7 is flushed
around every test, so the Celery lists (`enhance`, ...) can be asserted with LLEN.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from services.api.app import create_app
from shared.settings import Settings

API_REDIS_DB = 7
BASE_URL = "http://testserver"


@pytest.fixture(scope="session")
def api_redis_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The session's redis_server (tests/servers.py) if loaded, else one started here."""
    try:
        url = str(request.getfixturevalue("redis_server"))
    except pytest.FixtureLookupError:
        from tests.servers import ServerUnavailable, start_redis_server

        try:
            url, stop = start_redis_server(tmp_path_factory.mktemp("api-redis"))
        except ServerUnavailable as exc:
            pytest.skip(str(exc))
        request.addfinalizer(stop)
    return url.rsplit("/", 1)[0] + f"/{API_REDIS_DB}"


@pytest.fixture
def redis_client(api_redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(api_redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def make_settings(redis_url: str, storage_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "storage_backend": "local",
        "local_storage_dir": storage_dir,
        "public_base_url": BASE_URL,
        "signing_secret": "api-test-secret-0123456789abcdef",
        "create_rate_per_minute": 1000,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_client(
    api_redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def factory(**overrides: Any) -> TestClient:
        redis_url = overrides.pop("redis_url", api_redis_url)
        settings = make_settings(redis_url, tmp_path / "storage", **overrides)
        client = TestClient(create_app(settings), base_url=BASE_URL)
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wav_bytes(
    duration_s: float = 0.5, sample_rate_hz: int = 16000, freq_hz: float = 440.0
) -> bytes:
    """A real 16-bit mono WAV (a sine), small enough for fast tests."""
    n = int(duration_s * sample_rate_hz)
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * freq_hz * i / sample_rate_hz)))
        for i in range(n)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate_hz)
        out.writeframes(frames)
    return buffer.getvalue()


def create_json(
    client: TestClient,
    size_bytes: int,
    content_type: str = "audio/wav",
    options: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    body: dict[str, Any] = {
        "filename": "my voice memo.wav",
        "content_type": content_type,
        "size_bytes": size_bytes,
    }
    if options is not None:
        body["options"] = options
    return client.post("/v1/jobs", json=body, headers=headers or {})


def upload(
    client: TestClient, target: dict[str, Any], data: bytes, content_type: str = "audio/wav"
) -> Any:
    """Do what a browser does with the presigned POST: fields first, the file last."""
    files = {"file": ("recording.wav", data, content_type)}
    return client.post(target["url"], data=target["fields"], files=files)


def created_and_uploaded(client: TestClient, data: bytes) -> dict[str, Any]:
    response = create_json(client, len(data))
    assert response.status_code == 201, response.text
    created = response.json()
    assert upload(client, created["upload"], data).status_code in (200, 201, 204)
    return dict(created)
