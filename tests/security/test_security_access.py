"""The api against outsiders, on a live uvicorn with real Redis and S3: one indistinguishable 404
for every wrong way in, tokens never stored in the clear, ids that cannot be guessed, expiring
upload URLs, per-client rate limits, body size limits and no webhooks into private networks.

Clients bind distinct loopback addresses (127.0.0.x) so each test is its own client for the
per-client rate limit, as separate machines would be."""

from __future__ import annotations

import math
import statistics
import string
import time
from collections import Counter

import httpx
import pytest

from shared.webhooks import WebhookRefused, check_url
from tests.faults.faultkit import auth, record, wav_bytes
from tests.stackutil import start_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RATE_PER_MINUTE = 20
MAX_UPLOAD_BYTES = 64 * 1024
UPLOAD_EXPIRY_S = 10
PRIVATE_TARGETS = [
    "http://127.0.0.1:9/hook", "http://127.1/hook", "http://localhost/hook",
    "http://10.0.0.1/hook", "http://172.16.5.4/hook", "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/hook", "http://0.0.0.0/hook",
    "http://[::1]/hook", "http://[fe80::1]/hook", "http://[fd00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook", "http://[::ffff:10.0.0.1]/hook",
]


@pytest.fixture(scope="module")
def api(tmp_path_factory, s3_server):
    running = start_stack(tmp_path_factory.mktemp("access"), s3_server, workers=(), beat=False,
                          extra_env={"SPEAKUP_CREATE_RATE_PER_MINUTE": str(RATE_PER_MINUTE),
                                     "SPEAKUP_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
                                     "SPEAKUP_UPLOAD_URL_EXPIRY_S": str(UPLOAD_EXPIRY_S),
                                     "SPEAKUP_WEBHOOK_ALLOW_PRIVATE": "false"})
    yield running
    running.stack.stop_all()


def client(api, host_byte: int) -> httpx.Client:
    """A client that connects from 127.0.0.<host_byte>."""
    transport = httpx.HTTPTransport(local_address=f"127.0.0.{host_byte}")
    return httpx.Client(base_url=api.api_url, timeout=30, transport=transport)


def create_json(c: httpx.Client, size_bytes: int = 1000, **options: object) -> httpx.Response:
    return c.post("/v1/jobs", json={"filename": "a.wav", "content_type": "audio/wav",
                                    "size_bytes": size_bytes, "options": options})


def test_every_wrong_way_in_is_the_same_404_in_body_and_timing(api):
    c = client(api, 10)
    mine, other = create_json(c).json(), create_json(c).json()
    path = f"/v1/jobs/{mine['id']}"
    variants = {
        "no_token": (path, {}),
        "wrong_token": (path, auth("x" * 43)),
        "other_jobs_token": (path, auth(other["token"])),
        "unknown_id": ("/v1/jobs/" + "Q" * len(mine["id"]), auth(mine["token"])),
    }
    bodies = {name: c.get(p, headers=h) for name, (p, h) in variants.items()}
    assert {r.status_code for r in bodies.values()} == {404}
    assert len({r.content for r in bodies.values()}) == 1
    assert len({tuple(sorted((k, v) for k, v in r.headers.items() if k != "date"))
                for r in bodies.values()}) == 1
    for route, method in (("/submit", "POST"), ("/result", "GET"), ("", "DELETE")):
        answer = c.request(method, path + route, headers=auth(other["token"]))
        assert (answer.status_code, answer.content) == (404, bodies["no_token"].content)

    timings: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(200):  # interleaved, so drift in machine load hits every variant alike
        for name, (p, h) in variants.items():
            started = time.perf_counter()
            c.get(p, headers=h)
            timings[name].append((time.perf_counter() - started) * 1000)
    medians = {name: round(statistics.median(v), 3) for name, v in timings.items()}
    spread_ms = max(medians.values()) - min(medians.values())
    record("not_found_timing", {"median_ms": medians, "spread_ms": round(spread_ms, 3),
                                "requests_per_variant": 200})
    assert spread_ms <= max(1.0, 0.3 * min(medians.values())), medians
    assert c.get(path, headers=auth(mine["token"])).status_code == 200


def test_tokens_live_in_redis_only_as_hashes(api):
    c = client(api, 11)
    created = [create_json(c).json() for _ in range(3)]
    created.append(c.post("/v1/jobs", files={"file": ("a.wav", wav_bytes(1.0), "audio/wav")})
                   .json())
    store = api.store()
    dump = []
    for key in store.redis.scan_iter(count=1000):
        kind = store.redis.type(key)
        if kind == "hash":
            dump.append(str(store.redis.hgetall(key)))
        elif kind == "string":
            dump.append(str(store.redis.get(key)))
        elif kind == "list":
            dump.append(str(store.redis.lrange(key, 0, -1)))
        elif kind == "zset":
            dump.append(str(store.redis.zrange(key, 0, -1)))
        elif kind == "set":
            dump.append(str(store.redis.smembers(key)))
        dump.append(key)
    everything = "\n".join(dump)
    from shared.jobs.store import hash_token

    for job in created:
        assert job["token"] not in everything
        assert hash_token(job["token"]) in everything  # stored, as its hash
    record("tokens_in_redis", {"keys_scanned": len(dump) // 2, "tokens": len(created),
                               "found_in_clear": 0})


def test_job_ids_cannot_be_guessed(api):
    c = client(api, 12)
    ids = [create_json(c).json()["id"] for _ in range(RATE_PER_MINUTE - 2)]
    alphabet = set(string.ascii_letters + string.digits + "-_")
    assert len(set(ids)) == len(ids)
    assert all(len(i) >= 22 and set(i) <= alphabet for i in ids)
    bits = min(len(i) for i in ids) * math.log2(64)
    ordered = sorted(ids)
    prefix = max(len(_common_prefix(a, b)) for a, b in zip(ordered, ordered[1:], strict=False))
    letters = Counter("".join(ids))
    record("job_ids", {"samples": len(ids), "length": len(ids[0]), "bits": round(bits),
                       "longest_shared_prefix": prefix, "distinct_characters": len(letters)})
    assert bits >= 128
    assert prefix <= 2  # no time-ordered or sequential prefix
    assert len(letters) >= 50  # spread over the whole URL-safe alphabet


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def test_rate_limit_per_client_answers_429_with_retry_after(api):
    busy, calm = client(api, 20), client(api, 21)
    answers = [create_json(busy).status_code for _ in range(RATE_PER_MINUTE)]
    assert answers == [201] * RATE_PER_MINUTE
    limited = create_json(busy)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    retry_after_s = int(limited.headers["Retry-After"])
    assert 1 <= retry_after_s <= 60
    multipart = busy.post("/v1/jobs", files={"file": ("a.wav", wav_bytes(0.5), "audio/wav")})
    assert multipart.status_code == 429  # both create routes share the limit
    assert create_json(calm).status_code == 201  # another client is not held back
    record("rate_limit", {"limit_per_minute": RATE_PER_MINUTE, "status_after_limit": 429,
                          "retry_after_s": retry_after_s})


def test_body_size_limits(api):
    c = client(api, 30)
    too_big = b"\0" * (MAX_UPLOAD_BYTES + 1)
    answer = c.post("/v1/jobs", files={"file": ("big.wav", too_big, "audio/wav")})
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_large"

    def trickle():  # no Content-Length: the cap must hold on the streamed body too
        boundary = b"b0undary"
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename='
        yield b'"x.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        for _ in range(MAX_UPLOAD_BYTES // 8192 + 2):
            yield b"\0" * 8192
        yield b"\r\n--" + boundary + b"--\r\n"

    streamed = c.post("/v1/jobs", content=trickle(),
                      headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
    assert streamed.status_code == 413
    assert create_json(c, size_bytes=MAX_UPLOAD_BYTES + 1).status_code == 413
    huge_json = c.post("/v1/jobs", content=b'{"x":"' + b"a" * 200_000 + b'"}',
                       headers={"Content-Type": "application/json"})
    assert huge_json.status_code == 413
    record("body_limits", {"max_upload_bytes": MAX_UPLOAD_BYTES, "multipart_over": 413,
                           "chunked_over": 413, "declared_over": 413, "json_200kB": 413})


def test_webhooks_into_private_networks_are_refused(api):
    c = client(api, 40)
    refused_api, refused_worker = 0, 0
    for url in PRIVATE_TARGETS:
        answer = create_json(c, webhook_url=url)
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["error"]["code"] == "webhook_url_refused"
        refused_api += 1
        with pytest.raises(WebhookRefused):  # and again at send time, in the worker
            check_url(url, allow_private=False)
        refused_worker += 1
        check_url(url, allow_private=True)  # allowed only by configuration
    multipart = c.post("/v1/jobs", files={"file": ("a.wav", wav_bytes(0.5), "audio/wav")},
                       data={"options": '{"webhook_url": "http://169.254.169.254/"}'})
    assert multipart.status_code == 422
    record("ssrf", {"targets": len(PRIVATE_TARGETS), "refused_by_api": refused_api,
                    "refused_by_worker_check": refused_worker, "multipart_refused": True})


def test_upload_url_expires(api):
    c = client(api, 50)
    created = create_json(c, size_bytes=len(wav_bytes(0.5))).json()
    upload = created["upload"]
    time.sleep(UPLOAD_EXPIRY_S + 1.5)
    late = httpx.post(upload["url"], data=upload["fields"],
                      files={"file": ("a.wav", wav_bytes(0.5), "audio/wav")}, timeout=30)
    record("upload_url_expiry", {"expiry_s": UPLOAD_EXPIRY_S, "status_after_expiry":
                                 late.status_code})
    assert late.status_code == 403, late.text
    assert c.post(f"/v1/jobs/{created['id']}/submit",
                  headers=auth(created["token"])).status_code == 409  # nothing arrived
