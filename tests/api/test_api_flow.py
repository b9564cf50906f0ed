"""The job lifecycle through the api: create → upload → submit → status → result → delete,
against a real redis-server and the local storage backend served by the api."""

from __future__ import annotations

import time
from typing import Any

import pytest
from api_support import auth, create_json, created_and_uploaded, wav_bytes
from fastapi.testclient import TestClient

from shared.jobs.model import JobStatus
from shared.jobs.store import JobStore
from shared.runtime import input_key, job_prefix, output_key
from tests.api.contract import JOB_VIEW_FIELDS

pytest_plugins = ["api_support"]  # fixtures: client, make_client, redis_client


def _store(client: TestClient) -> JobStore:
    return client.app.state.store  # type: ignore[attr-defined, no-any-return]


def _finish(client: TestClient, job_id: str, audio: bytes, fmt: str = "wav") -> None:
    """Do what the enhancer and upsampler workers do to a job, through the real store."""
    store, storage = _store(client), client.app.state.storage  # type: ignore[attr-defined]
    assert store.transition(job_id, JobStatus.ENHANCING)
    assert store.transition(job_id, JobStatus.UPSAMPLING)
    storage.put_bytes(output_key(job_id, fmt), audio, "audio/wav")
    output = {
        "key": output_key(job_id, fmt),
        "sample_rate_hz": 48000,
        "format": fmt,
        "bytes": len(audio),
    }
    assert store.transition(
        job_id, JobStatus.SUCCEEDED, output=output, deadline_at=time.time() + 3600
    )


def test_create_returns_presigned_upload_for_the_input_key(client: TestClient) -> None:
    data = wav_bytes()
    response = create_json(client, len(data))
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "awaiting_upload"
    assert len(body["token"]) >= 43  # 256 bits, base64url
    assert set(body["upload"]) == {"url", "fields", "expires_at"}
    assert body["upload"]["url"].startswith("http://testserver/storage/")
    job = _store(client).get(body["id"])
    assert job is not None and job.status == JobStatus.AWAITING_UPLOAD
    # deadline = now + upload_ttl_s (3600 by default)
    assert job.deadline_at is not None and 3500 < job.deadline_at - time.time() <= 3600


def test_upload_submit_enqueues_exactly_once(client: TestClient, redis_client: Any) -> None:
    data = wav_bytes()
    created = created_and_uploaded(client, data)
    job_id, token = created["id"], created["token"]
    storage = client.app.state.storage  # type: ignore[attr-defined]
    assert storage.size(input_key(job_id)) == len(data)

    first = client.post(f"/v1/jobs/{job_id}/submit", headers=auth(token))
    assert first.status_code == 202
    assert first.json() == {"id": job_id, "status": "queued"}
    assert redis_client.llen("enhance") == 1
    # a repeat is idempotent: same answer, nothing enqueued twice
    again = client.post(f"/v1/jobs/{job_id}/submit", headers=auth(token))
    assert again.status_code == 202 and again.json()["status"] == "queued"
    assert redis_client.llen("enhance") == 1
    job = _store(client).get(job_id)
    assert job is not None and 23 * 3600 < job.deadline_at - time.time() <= 24 * 3600


def test_submit_without_upload_is_409_upload_missing(client: TestClient, redis_client: Any) -> None:
    created = create_json(client, 1000).json()
    response = client.post(f"/v1/jobs/{created['id']}/submit", headers=auth(created["token"]))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "upload_missing"
    assert redis_client.llen("enhance") == 0


def test_status_fields_and_retry_after(client: TestClient) -> None:
    created = created_and_uploaded(client, wav_bytes())
    job_id, token = created["id"], created["token"]
    status = client.get(f"/v1/jobs/{job_id}", headers=auth(token))
    assert status.status_code == 200
    assert status.headers["Retry-After"] == "5"  # awaiting upload: poll slowly
    client.post(f"/v1/jobs/{job_id}/submit", headers=auth(token))
    body = client.get(f"/v1/jobs/{job_id}", headers=auth(token)).json()
    for name in sorted(JOB_VIEW_FIELDS):
        assert name in body, name
    assert body["status"] == "queued" and body["result"] is None and body["error"] is None
    assert [entry["status"] for entry in body["timeline"]] == ["awaiting_upload", "queued"]
    assert body["options"]["sample_rate_hz"] == 48000


def test_result_is_409_before_success_then_303_to_the_output(client: TestClient) -> None:
    created = created_and_uploaded(client, wav_bytes())
    job_id, token = created["id"], created["token"]
    client.post(f"/v1/jobs/{job_id}/submit", headers=auth(token))
    early = client.get(f"/v1/jobs/{job_id}/result", headers=auth(token), follow_redirects=False)
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_ready"
    assert int(early.headers["Retry-After"]) >= 1

    output = wav_bytes(0.25, 48000)
    _finish(client, job_id, output)
    status = client.get(f"/v1/jobs/{job_id}", headers=auth(token))
    assert "Retry-After" not in status.headers
    result = status.json()["result"]
    assert result["download_url"] == f"http://testserver/v1/jobs/{job_id}/result"
    assert result["sample_rate_hz"] == 48000 and result["format"] == "wav"

    before = time.time()
    redirect = client.get(result["download_url"], headers=auth(token), follow_redirects=False)
    assert redirect.status_code == 303
    location = redirect.headers["location"]
    assert token not in location and job_id in location
    downloaded = client.get(location)
    assert downloaded.status_code == 200 and downloaded.content == output
    assert f"speakup-{job_id}.wav" in downloaded.headers["content-disposition"]
    # the first download starts the grace period (600 s by default)
    job = _store(client).get(job_id)
    assert job is not None and job.status == JobStatus.DOWNLOADED
    assert before + 590 < job.deadline_at <= time.time() + 600
    # a second call still works (fresh URL) and does not extend the grace period
    again = client.get(f"/v1/jobs/{job_id}/result", headers=auth(token), follow_redirects=False)
    assert again.status_code == 303
    assert _store(client).get(job_id).deadline_at == job.deadline_at  # type: ignore[union-attr]


def test_result_as_json_for_browsers(client: TestClient) -> None:
    created = created_and_uploaded(client, wav_bytes())
    job_id, token = created["id"], created["token"]
    client.post(f"/v1/jobs/{job_id}/submit", headers=auth(token))
    _finish(client, job_id, b"RIFF-not-really", fmt="flac")
    response = client.get(
        f"/v1/jobs/{job_id}/result", headers={**auth(token), "Accept": "application/json"}
    )
    assert response.status_code == 200
    link = response.json()
    assert set(link) == {"download_url", "expires_at"}
    assert client.get(link["download_url"]).content == b"RIFF-not-really"


def test_delete_erases_everything_and_keeps_a_receipt(client: TestClient) -> None:
    created = created_and_uploaded(client, wav_bytes())
    job_id, token = created["id"], created["token"]
    client.post(f"/v1/jobs/{job_id}/submit", headers=auth(token))
    _finish(client, job_id, wav_bytes(0.25, 48000))
    storage = client.app.state.storage  # type: ignore[attr-defined]
    assert len(storage.list_prefix(job_prefix(job_id))) == 2  # input + output

    response = client.delete(f"/v1/jobs/{job_id}", headers=auth(token))
    assert response.status_code == 204 and response.content == b""
    assert storage.list_prefix(job_prefix(job_id)) == []
    tombstone = client.get(f"/v1/jobs/{job_id}", headers=auth(token)).json()
    assert tombstone["status"] == "purged"
    receipt = tombstone["deletion"]
    assert receipt["objects"] == 2 and receipt["verified_empty"] is True and receipt["bytes"] > 0
    gone = client.get(f"/v1/jobs/{job_id}/result", headers=auth(token), follow_redirects=False)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "purged"
    # DELETE is idempotent
    assert client.delete(f"/v1/jobs/{job_id}", headers=auth(token)).status_code == 204
    ttl_s = client.app.state.store.redis.ttl(JobStore.key(job_id))  # type: ignore[attr-defined]
    assert 0 < ttl_s <= 7 * 24 * 3600


def test_delete_while_queued_cancels(client: TestClient) -> None:
    created = created_and_uploaded(client, wav_bytes())
    job_id, token = created["id"], created["token"]
    client.post(f"/v1/jobs/{job_id}/submit", headers=auth(token))
    assert client.delete(f"/v1/jobs/{job_id}", headers=auth(token)).status_code == 204
    body = client.get(f"/v1/jobs/{job_id}", headers=auth(token)).json()
    assert body["status"] == "cancelled" and body["deletion"]["verified_empty"] is True
    assert client.app.state.storage.list_prefix(job_prefix(job_id)) == []  # type: ignore
    refused = client.post(f"/v1/jobs/{job_id}/submit", headers=auth(token))
    assert refused.status_code == 409


def test_multipart_one_shot_stores_input_and_enqueues(
    client: TestClient, redis_client: Any
) -> None:
    data = wav_bytes()
    response = client.post(
        "/v1/jobs",
        files={"file": ("memo.wav", data, "audio/wav")},
        data={"options": '{"preset": "broadcast", "format": "flac", "sample_rate_hz": 44100}'},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "queued" and body["upload"] is None
    assert redis_client.llen("enhance") == 1
    storage = client.app.state.storage  # type: ignore[attr-defined]
    assert storage.size(input_key(body["id"])) == len(data)
    status = client.get(f"/v1/jobs/{body['id']}", headers=auth(body["token"])).json()
    assert status["options"]["preset"] == "broadcast" and status["options"]["format"] == "flac"
    assert status["options"]["sample_rate_hz"] == 44100


@pytest.mark.parametrize("bad", ['{"preset": "loud"}', "not json", '{"strength": 2}'])
def test_multipart_bad_options_are_422(client: TestClient, redis_client: Any, bad: str) -> None:
    response = client.post(
        "/v1/jobs", files={"file": ("a.wav", wav_bytes(0.1), "audio/wav")}, data={"options": bad}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert redis_client.llen("enhance") == 0
