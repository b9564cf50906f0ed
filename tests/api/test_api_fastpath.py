"""The status fast path (services/api/fastpath.py) answers exactly what the declared FastAPI
route answers: same status, body and headers for every kind of poll, found or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_support import BASE_URL, auth, create_json, created_and_uploaded, make_settings, wav_bytes
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.api.fastpath import JobStatusFastPath, bearer_token
from shared.jobs.model import JobStatus
from shared.jobs.store import JobStore

pytest_plugins = ["api_support"]  # fixtures: client, make_client, redis_client


def _fingerprint(response: Any) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
    headers = tuple(sorted((k, v) for k, v in response.headers.items() if k.lower() != "date"))
    return response.status_code, response.content, headers


def _without_fast_path(app: Any) -> Any:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not JobStatusFastPath]
    return app


@pytest.fixture
def two_clients(api_redis_url: str, redis_client: Any, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = make_settings(api_redis_url, tmp_path / "storage")
    with (
        TestClient(create_app(settings), base_url=BASE_URL) as fast,
        TestClient(_without_fast_path(create_app(settings)), base_url=BASE_URL) as routed,
    ):
        yield fast, routed


def test_every_kind_of_poll_is_answered_as_the_route_would(two_clients: Any) -> None:
    fast, routed = two_clients
    waiting = create_json(fast, 100).json()
    done = created_and_uploaded(fast, wav_bytes())
    store = JobStore.from_url(fast.app.state.settings.redis_url)
    for status in (JobStatus.QUEUED, JobStatus.ENHANCING, JobStatus.UPSAMPLING):
        assert store.transition(done["id"], status)
    store.merge(done["id"], "metrics", {"output_lufs": -16.0})
    assert store.transition(
        done["id"],
        JobStatus.SUCCEEDED,
        output={"key": f"jobs/{done['id']}/output.flac", "sample_rate_hz": 44100, "format": "flac"},
    )
    polls: list[tuple[str, dict[str, str]]] = [
        (f"/v1/jobs/{waiting['id']}", auth(waiting["token"])),  # running: Retry-After
        (f"/v1/jobs/{done['id']}", auth(done["token"])),  # finished: result, no Retry-After
        (f"/v1/jobs/{done['id']}", {"Authorization": f"bearer {done['token']}"}),
        (f"/v1/jobs/{done['id']}?x=1", auth(done["token"])),
        (f"/v1/jobs/{done['id']}", {}),
        (f"/v1/jobs/{done['id']}", auth(waiting["token"])),
        (f"/v1/jobs/{done['id']}", {"Authorization": f"Basic {done['token']}"}),
        (f"/v1/jobs/{done['id']}", {"Authorization": "Bearer"}),
        ("/v1/jobs/" + "A" * 22, auth(done["token"])),
        ("/v1/jobs/%2e%2e", auth(done["token"])),
        ("/v1/jobs/" + "A" * 129, auth(done["token"])),  # too long: the route's 422
    ]
    answers = []
    for path, headers in polls:
        ours, theirs = fast.get(path, headers=headers), routed.get(path, headers=headers)
        assert _fingerprint(ours) == _fingerprint(theirs), path
        answers.append(ours)
    assert [a.status_code for a in answers] == [200, 200, 200, 200] + [404] * 6 + [422]
    assert answers[0].headers["retry-after"] == "5"
    assert (
        answers[1].json()["result"]["format"] == "flac" and "retry-after" not in answers[1].headers
    )
    assert answers[1].headers["cache-control"] == "no-store"  # the metrics middleware still runs


def test_redis_down_is_the_same_503(tmp_path: Path) -> None:
    from tests.servers import free_port

    settings = make_settings(f"redis://127.0.0.1:{free_port()}/0", tmp_path / "storage")
    with (
        TestClient(create_app(settings), base_url=BASE_URL) as fast,
        TestClient(_without_fast_path(create_app(settings)), base_url=BASE_URL) as routed,
    ):
        path, headers = "/v1/jobs/" + "A" * 22, auth("x" * 43)
        answer = fast.get(path, headers=headers)
        assert _fingerprint(answer) == _fingerprint(routed.get(path, headers=headers))
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert answer.json()["error"]["code"] == "unavailable"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, ""),
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("Basic abc", ""),
        ("Bearer", ""),
        ("abc", ""),
        ("Bearer  abc", "abc"),
    ],
)
def test_bearer_token_reads_the_header_as_httpbearer_does(header: str | None, token: str) -> None:
    assert bearer_token(header) == token
