"""Tokens, idempotency, rate limits and webhook SSRF: the api lets no one in."""

from __future__ import annotations

import concurrent.futures
import logging
import uuid
from typing import Any

import pytest
from api_support import auth, create_json, created_and_uploaded, wav_bytes
from fastapi.testclient import TestClient

from services.api.ratelimit import FixedWindowLimiter
from services.api.ssrf import is_public_address
from services.api.tokens import idempotent_token
from shared.jobs.store import JobStore, hash_token

pytest_plugins = ["api_support"]  # fixtures: client, make_client, redis_client


def _fingerprint(response: Any) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
    headers = tuple(sorted((k, v) for k, v in response.headers.items() if k.lower() != "date"))
    return response.status_code, response.content, headers


def test_missing_wrong_and_foreign_tokens_are_an_identical_404(client: TestClient) -> None:
    mine = create_json(client, 100).json()
    other = create_json(client, 100).json()
    path = f"/v1/jobs/{mine['id']}"
    answers = [
        client.get(path),  # no token
        client.get(path, headers=auth("x" * 43)),  # wrong token
        client.get(path, headers=auth(other["token"])),  # another job's token
        client.get(path, headers={"Authorization": mine["token"]}),  # not a Bearer header
        client.get(path, headers={"Authorization": "Basic " + mine["token"]}),
        client.get("/v1/jobs/" + "A" * 22, headers=auth(mine["token"])),  # unknown id
        client.get("/v1/jobs/%2e%2e", headers=auth(mine["token"])),  # nonsense id
    ]
    prints = {_fingerprint(a) for a in answers}
    assert len(prints) == 1, prints
    status, body, _ = prints.pop()
    assert status == 404 and b'"code":"not_found"' in body
    for route in ("/submit", "/result"):
        method = client.post if route == "/submit" else client.get
        assert method(path + route, headers=auth(other["token"])).content == body
    assert client.delete(path, headers=auth(other["token"])).content == body
    assert client.get(path, headers=auth(mine["token"])).status_code == 200


def test_tokens_are_stored_only_as_hashes(client: TestClient, redis_client: Any) -> None:
    created = create_json(client, 100).json()
    raw = redis_client.hgetall(JobStore.key(created["id"]))
    assert raw["token_hash"] == hash_token(created["token"])
    everything = "".join(f"{k}{redis_client.dump(k)!r}" for k in redis_client.keys("*"))
    assert created["token"] not in everything
    assert len(created["id"]) >= 22  # 128 random bits


def test_logs_hold_no_token_or_signed_url(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        created = created_and_uploaded(client, wav_bytes(0.1))
        client.post(f"/v1/jobs/{created['id']}/submit", headers=auth(created["token"]))
        client.get(f"/v1/jobs/{created['id']}", headers=auth(created["token"]))
    ours = [r for r in caplog.records if r.name.startswith("speakup")]  # not the test's httpx
    text = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in ours)
    assert "job.created" in text and created["id"] in text
    assert created["token"] not in text
    assert created["upload"]["fields"].get("signature", "\0") not in text
    assert "/storage/" not in text


def test_idempotency_key_returns_the_same_job_and_token(
    client: TestClient, redis_client: Any
) -> None:
    key = str(uuid.uuid4())
    first = create_json(client, 1000, headers={"Idempotency-Key": key})
    second = create_json(client, 1000, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    a, b = first.json(), second.json()
    assert (a["id"], a["token"]) == (b["id"], b["token"])
    secret = "api-test-secret-0123456789abcdef"
    assert a["token"] == idempotent_token(secret, a["id"], key)
    assert len(redis_client.keys(JobStore.key("*"))) == 1
    # the token works, and is not stored anywhere
    assert client.get(f"/v1/jobs/{a['id']}", headers=auth(a["token"])).status_code == 200
    assert a["token"] not in str([redis_client.dump(k) for k in redis_client.keys("*")])
    # a different key makes a different job
    third = create_json(client, 1000, headers={"Idempotency-Key": str(uuid.uuid4())}).json()
    assert third["id"] != a["id"]


def test_idempotency_key_with_other_options_or_too_short_is_refused(client: TestClient) -> None:
    key = str(uuid.uuid4())
    assert create_json(client, 10, headers={"Idempotency-Key": key}).status_code == 201
    reused = create_json(client, 10, options={"preset": "video"}, headers={"Idempotency-Key": key})
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    short = create_json(client, 10, headers={"Idempotency-Key": "abc"})
    assert short.status_code == 422 and short.json()["error"]["code"] == "invalid_request"


def test_concurrent_repeats_of_one_key_make_one_job(client: TestClient) -> None:
    key = str(uuid.uuid4())
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: create_json(client, 10, headers={"Idempotency-Key": key}), range(8))
        )
    assert {a.status_code for a in answers} == {201}
    assert len({(a.json()["id"], a.json()["token"]) for a in answers}) == 1


def test_multipart_idempotency_does_not_store_twice(client: TestClient, redis_client: Any) -> None:
    key = str(uuid.uuid4())
    files = {"file": ("a.wav", wav_bytes(0.1), "audio/wav")}
    first = client.post("/v1/jobs", files=files, headers={"Idempotency-Key": key})
    second = client.post("/v1/jobs", files=files, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert redis_client.llen("enhance") == 1


def test_rate_limit_is_429_with_retry_after(make_client: Any) -> None:
    client = make_client(create_rate_per_minute=3)
    codes = [create_json(client, 10).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    limited = create_json(client, 10)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # the multipart route shares the budget; reading a job does not count
    refused = client.post("/v1/jobs", files={"file": ("a.wav", b"x" * 10, "audio/wav")})
    assert refused.status_code == 429


def test_fixed_window_counts_per_client_and_resets(redis_client: Any) -> None:
    limiter = FixedWindowLimiter(redis_client, limit=2, window_s=60)
    now = 60.0 * 16_667 + 20  # 20 s into a window
    assert [limiter.hit("a", now).allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit("a", now).retry_after_s == 40
    assert limiter.hit("b", now).allowed  # another client has its own budget
    assert limiter.hit("a", now + 40).allowed  # next window


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "https://10.1.2.3/x",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "http://no-such-host.invalid/hook",
    ],
)
def test_webhook_to_private_hosts_is_refused(client: TestClient, url: str) -> None:
    response = create_json(client, 10, options={"webhook_url": url})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "webhook_url_refused" and "webhook_url" in error["message"]
    multipart = client.post(
        "/v1/jobs",
        files={"file": ("a.wav", b"x" * 10, "audio/wav")},
        data={"options": f'{{"webhook_url": "{url}"}}'},
    )
    assert multipart.status_code == 422


def test_webhook_to_public_host_or_private_when_allowed(make_client: Any) -> None:
    strict = make_client()
    assert (
        create_json(strict, 10, options={"webhook_url": "https://93.184.216.34/hook"}).status_code
        == 201
    )
    lenient = make_client(webhook_allow_private=True)
    assert (
        create_json(lenient, 10, options={"webhook_url": "http://127.0.0.1:9/hook"}).status_code
        == 201
    )


def test_public_address_classification() -> None:
    assert is_public_address("8.8.8.8") and is_public_address("2606:4700::1111")
    for address in (
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "::1",
        "fd00::1",
        "224.0.0.1",
        "::ffff:10.0.0.1",
        "fe80::1%eth0",
    ):
        assert not is_public_address(address), address
