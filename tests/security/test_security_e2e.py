"""A whole run on the real stack, then the secrets hunt: no process log and no /metrics output
holds a token, a presigned URL or its signature, or the audio; webhooks are signed and a tampered
one fails the example verifier; download URLs expire as configured and die with the purge."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from shared.webhooks import verify
from tests.faults.faultkit import (
    WebhookReceiver,
    auth,
    create_job,
    record,
    start_fault_stack,
    wait_until,
    wav_bytes,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow,
              pytest.mark.timeout(300)]

DOWNLOAD_EXPIRY_S = 10


@pytest.fixture(scope="module")
def receiver():
    hooks = WebhookReceiver()
    yield hooks
    hooks.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server):
    fs = start_fault_stack(tmp_path_factory.mktemp("secure"), s3_server,
                           workers={"enhancer-e": "enhancer", "upsampler-e": "upsampler"},
                           proxy_delay_s=None,
                           extra_env={"SPEAKUP_DOWNLOAD_URL_EXPIRY_S": str(DOWNLOAD_EXPIRY_S),
                                      "SPEAKUP_DOWNLOAD_GRACE_S": "30",
                                      "SPEAKUP_LOG_LEVEL": "INFO"})
    yield fs
    fs.stop()


@pytest.fixture(scope="module")
def run(stack, receiver):
    """Both create routes, upload, submit, poll, download, delete: every secret gets made."""
    client = httpx.Client(base_url=stack.api_url, timeout=30)
    audio = wav_bytes(1.5, seed=7)
    secrets_seen: list[str] = []
    multipart = create_job(client, audio, {"webhook_url": receiver.url})
    created = client.post("/v1/jobs", json={"content_type": "audio/wav", "size_bytes": len(audio),
                                            "options": {"engine": "passthrough",
                                                        "upsampler": "resample",
                                                        "webhook_url": receiver.url}}).json()
    upload = created["upload"]
    secrets_seen += [upload["url"], upload["fields"]["x-amz-signature"],
                     upload["fields"]["policy"]]
    assert httpx.post(upload["url"], data=upload["fields"],
                      files={"file": ("a.wav", audio, "audio/wav")}).status_code in (200, 201, 204)
    assert client.post(f"/v1/jobs/{created['id']}/submit",
                       headers=auth(created["token"])).status_code == 202
    jobs = [multipart, created]
    store = stack.running.store()
    for job in jobs:
        wait_until(lambda j=job: store.get(j["id"]).status.value == "succeeded", 120, "succeeded")
        client.get(f"/v1/jobs/{job['id']}", headers=auth(job["token"]))
        secrets_seen.append(job["token"])
    links = {}
    for job in jobs:
        answer = client.get(f"/v1/jobs/{job['id']}/result", headers=auth(job["token"]))
        assert answer.status_code == 303
        links[job["id"]] = answer.headers["location"]
        secrets_seen.append(answer.headers["location"])
    wait_until(lambda: sum(receiver.per_job()[j["id"]] for j in jobs) == 2, 60, "webhooks")
    metrics = client.get("/metrics").text
    return {"jobs": jobs, "links": links, "secrets": secrets_seen, "audio": audio,
            "metrics": metrics, "client": client, "created_at": time.monotonic()}


def _signature_parts(url: str) -> list[str]:
    """The secret-bearing query values of a presigned URL (the signature; the credential scope
    names only the public access key id, date and region)."""
    from urllib.parse import parse_qsl, urlsplit

    return [v for k, v in parse_qsl(urlsplit(url).query)
            if k.lower() in ("x-amz-signature", "signature")]


def test_download_url_works_then_expires_as_configured(run):
    job = run["jobs"][0]
    url = run["links"][job["id"]]
    assert httpx.get(url, timeout=30).status_code == 200
    wait_s = DOWNLOAD_EXPIRY_S + 1.5 - (time.monotonic() - run["created_at"])
    time.sleep(max(0.0, wait_s))
    late = httpx.get(url, timeout=30)
    record("download_url_expiry", {"expiry_s": DOWNLOAD_EXPIRY_S, "status_after": late.status_code})
    assert late.status_code == 403


def test_download_url_stops_working_after_delete(run, stack):
    job = run["jobs"][1]
    client = run["client"]
    fresh = client.get(f"/v1/jobs/{job['id']}/result", headers=auth(job["token"]))
    url = fresh.headers["location"]
    assert httpx.get(url, timeout=30).status_code == 200
    assert client.delete(f"/v1/jobs/{job['id']}", headers=auth(job["token"])).status_code == 204
    after = httpx.get(url, timeout=30)
    view = client.get(f"/v1/jobs/{job['id']}", headers=auth(job["token"])).json()
    result_after = client.get(f"/v1/jobs/{job['id']}/result", headers=auth(job["token"]))
    record("download_after_purge", {"status_after_delete": after.status_code,
                                    "objects_left": len(stack.running.storage().list_prefix(
                                        f"jobs/{job['id']}/")),
                                    "receipt": view["deletion"],
                                    "result_route_after": result_after.status_code})
    assert after.status_code in (403, 404)
    assert view["deletion"]["verified_empty"] is True
    assert stack.running.storage().list_prefix(f"jobs/{job['id']}/") == []
    assert result_after.status_code == 410


def test_webhooks_are_signed_and_tampering_is_caught(run, stack, receiver):
    secret = stack.running.env["SPEAKUP_SIGNING_SECRET"].encode()
    ids = {j["id"] for j in run["jobs"]}
    deliveries = [d for d in receiver.deliveries if json.loads(d.body)["job"]["id"] in ids]
    assert len(deliveries) == 2
    for d in deliveries:
        ts, sig = d.headers["x-speakup-timestamp"], d.headers["x-speakup-signature"]
        assert verify(secret, ts, d.body, sig, now=d.received_at)
        assert json.loads(d.body)["event"] == "job.succeeded"
        tampered_body = d.body.replace(b"succeeded", b"failed")
        assert not verify(secret, ts, tampered_body, sig, now=d.received_at)
        assert not verify(secret, str(int(ts) + 1), d.body, sig, now=d.received_at)
        assert not verify(secret, ts, d.body, sig[:-1] + ("0" if sig[-1] != "0" else "1"),
                          now=d.received_at)
        assert not verify(b"another-secret-0123456789", ts, d.body, sig, now=d.received_at)
        assert not verify(secret, ts, d.body, sig, now=d.received_at + 301)  # replayed late
        assert b"token" not in d.body and b"X-Amz" not in d.body
    record("webhook_signatures", {"deliveries": len(deliveries), "valid": len(deliveries),
                                  "tampered_rejected": 5 * len(deliveries)})


def test_logs_and_metrics_hold_no_secrets_and_no_audio(run, stack):
    logs = stack.running.logs()
    haystack = logs + "\n" + run["metrics"]
    needles = {"token": [j["token"] for j in run["jobs"]],
               "presigned": [s for url in run["secrets"] if url.startswith("http")
                             for s in _signature_parts(url)] + list(run["links"].values()),
               "post_signature_and_policy": [v for v in run["secrets"]
                                             if not v.startswith("http")],
               "signing_secret": [stack.running.env["SPEAKUP_SIGNING_SECRET"]]}
    found = {kind: [n[:12] for n in values if n and n in haystack]
             for kind, values in needles.items()}
    pcm = run["audio"][44:]
    windows = [pcm[i:i + 24] for i in range(0, len(pcm) - 24, len(pcm) // 40)]
    audio_hits = sum(w in haystack.encode("latin-1", "replace")
                     or w.hex() in haystack
                     or base64.b64encode(w).decode()[:28] in haystack for w in windows)
    record("secrets_in_logs", {"log_bytes": len(logs), "metrics_bytes": len(run["metrics"]),
                               "log_files": len(list((stack.workdir / "logs").glob("*"))),
                               "found": found, "audio_windows_checked": len(windows),
                               "audio_hits": audio_hits,
                               "x_amz_signature_mentions": haystack.count("X-Amz-Signature")})
    assert not any(found.values()), found
    assert audio_hits == 0
    assert "X-Amz-Signature=" not in haystack
    assert "Bearer " not in haystack.replace("Bearer [redacted]", "")


def test_debug_logging_does_not_leak_presigned_signatures(capfd):
    """At DEBUG too: signing a URL must not put its signature in the logs."""
    import logging

    from shared.logging import configure_logging
    from shared.storage.s3 import S3Storage

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("DEBUG")
        storage = S3Storage(bucket="b", endpoint_url="http://127.0.0.1:9", access_key="k",
                            secret_key="s" * 20)
        url = storage.presigned_get("jobs/x/output.wav", expires_s=60)
        post = storage.presigned_post("jobs/x/input", content_type="audio/wav", max_bytes=10,
                                      expires_s=60)
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    logged = capfd.readouterr().err
    assert _signature_parts(url)[0] not in logged
    assert post.fields["x-amz-signature"] not in logged
