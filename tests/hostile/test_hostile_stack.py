"""Every case of the hostile corpus through the REAL stack (multipart route → enhancer worker):
each ends `failed` with its specific code and a human message before enhancement produced
anything, within a time limit and bounded memory; the worker survives and takes the next job;
after the TTL nothing of any of it remains in storage. Plus what must never reach a worker:
uploads over the presigned size and content types the api does not take."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import pytest

from shared.jobs.model import JobStatus
from tests.faults.faultkit import (
    FAST_OPTIONS,
    auth,
    children,
    create_job,
    peak_rss_mb,
    record,
    start_fault_stack,
    states,
    wait_until,
    wav_bytes,
)
from tests.hostile_corpus import all_cases

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(480)]

JOB_TTL_S = 80
PER_CASE_LIMIT_S = 30.0
WORKER_PEAK_RSS_LIMIT_MB = 2500.0
CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4", "mp4": "video/mp4",
                 "ogg": "audio/ogg", "opus": "audio/ogg", "flac": "audio/flac",
                 "mkv": "video/x-matroska", "mka": "video/x-matroska", "webm": "audio/webm"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server):
    fs = start_fault_stack(tmp_path_factory.mktemp("hostile"), s3_server,
                           workers={"enhancer-h": "enhancer", "upsampler-h": "upsampler"},
                           proxy_delay_s=None, extra_env={"SPEAKUP_JOB_TTL_S": str(JOB_TTL_S)})
    yield fs
    fs.stop()


def _content_type(name: str) -> str:
    return CONTENT_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")


def _seconds(a: str, b: str) -> float:
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(b) - parse(a)).total_seconds()


def test_every_hostile_case_fails_clearly_and_leaves_nothing(stack):
    client = httpx.Client(base_url=stack.api_url, timeout=60)
    store, storage = stack.running.store(), stack.running.storage()
    child_before = stack.pool_child("enhancer-h")
    cases = all_cases()
    submitted: dict[str, tuple[str, str | None]] = {}
    refused_at_api = {}
    for case in cases:
        answer = client.post("/v1/jobs", data={"options": json.dumps(FAST_OPTIONS)},
                             files={"file": (case.name, case.data, _content_type(case.name))})
        if answer.status_code == 201:
            submitted[answer.json()["id"]] = (case.name, case.expected_code)
        else:  # only the empty file is the api's business (it knows the size)
            refused_at_api[case.name] = answer.json()["error"]["code"]
    assert refused_at_api == {"empty.wav": "empty_file"}

    finals = {}
    for job_id, (name, _) in submitted.items():
        finals[job_id] = wait_until(lambda j=job_id: (job := store.get(j)).finished and job,
                                    JOB_TTL_S - 10, f"{name} finished")
    rows, wrong = [], []
    for job_id, (name, expected) in submitted.items():
        job = finals[job_id]
        timeline = dict(job.timeline)
        row = {"case": name, "expected": expected, "status": job.status.value,
               "code": job.error.code if job.error else None,
               "seconds": round(_seconds(timeline["enhancing"], job.timeline[-1][1]), 2)
               if "enhancing" in timeline else None}
        rows.append(row)
        if expected is None:
            ok = job.status == JobStatus.SUCCEEDED
        else:
            keys = [k for k, _ in storage.list_prefix(f"jobs/{job_id}/")]
            ok = (job.status == JobStatus.FAILED and job.error.code == expected
                  and len(job.error.message) > 30 and job.error.message[0].isupper()
                  and states(job) == ["queued", "enhancing", "failed"]
                  and job.engine is None and keys == [f"jobs/{job_id}/input"]
                  and row["seconds"] <= PER_CASE_LIMIT_S)
        if not ok:
            wrong.append(row)
    child_after = stack.pool_child("enhancer-h")
    peak_mb = peak_rss_mb(child_after)

    # the worker is alive and takes the next job
    normal = create_job(client, wav_bytes(1.0))
    done = wait_until(lambda: (j := store.get(normal["id"])).finished and j, 60, "normal job")
    assert done.status == JobStatus.SUCCEEDED, done.error

    # nothing remains after the TTL
    def all_erased() -> bool:
        return all(not storage.list_prefix(f"jobs/{j}/") for j in submitted)

    wait_until(all_erased, JOB_TTL_S + 60, "hostile inputs erased", interval_s=1.0)
    receipts = [store.get(j).deletion for j in submitted if finals[j].status == JobStatus.FAILED]
    failing = [r for r in rows if r["expected"]]
    record("hostile", {
        "cases": len(cases), "through_worker": len(submitted), "refused_at_api": refused_at_api,
        "failed_as_expected": len(failing) - len([w for w in wrong if w["expected"]]),
        "decoded_as_expected": len(rows) - len(failing)
        - len([w for w in wrong if not w["expected"]]),
        "max_seconds_to_fail": max(r["seconds"] for r in failing),
        "worker_pool_restarts": int(child_after != child_before),
        "worker_peak_rss_mb": round(peak_mb), "erased_after_ttl": len(submitted),
        "codes": sorted({r["code"] for r in failing if r["code"]}), "wrong": wrong})
    assert not wrong, wrong
    assert child_after == child_before  # no case crashed the worker's process
    assert peak_mb <= WORKER_PEAK_RSS_LIMIT_MB
    assert all(r is not None and r["verified_empty"] for r in receipts)
    assert children(stack.pid("enhancer-h"))


def test_upload_over_the_presigned_size_is_refused_by_s3(stack):
    client = httpx.Client(base_url=stack.api_url, timeout=30)
    audio = wav_bytes(1.0)
    created = client.post("/v1/jobs", json={"content_type": "audio/wav",
                                            "size_bytes": len(audio) // 2}).json()
    upload = created["upload"]
    over = httpx.post(upload["url"], data=upload["fields"],
                      files={"file": ("a.wav", audio, "audio/wav")}, timeout=30)
    assert over.status_code == 400 and b"EntityTooLarge" in over.content, over.text
    other_type = httpx.post(upload["url"], data={**upload["fields"], "Content-Type": "text/html"},
                            files={"file": ("a.wav", audio[: len(audio) // 2], "text/html")},
                            timeout=30)
    assert other_type.status_code == 403, other_type.text  # the policy pins the content type
    submit = client.post(f"/v1/jobs/{created['id']}/submit", headers=auth(created["token"]))
    assert submit.status_code == 409 and submit.json()["error"]["code"] == "upload_missing"
    record("presigned_limits", {"over_size": over.status_code,
                                "other_content_type": other_type.status_code,
                                "submit_after": submit.status_code})


def test_wrong_content_types_are_refused_by_the_api(stack):
    client = httpx.Client(base_url=stack.api_url, timeout=30)
    seen = {}
    for content_type in ("text/html", "application/x-msdownload", "image/png", "text/plain"):
        multipart = client.post("/v1/jobs", files={"file": ("a.wav", wav_bytes(0.5),
                                                            content_type)})
        as_json = client.post("/v1/jobs", json={"content_type": content_type, "size_bytes": 100})
        assert multipart.status_code == 415 and as_json.status_code == 415
        assert multipart.json()["error"]["code"] == "unsupported_content_type"
        seen[content_type] = multipart.status_code
    as_text = client.post("/v1/jobs", content=b"hello", headers={"Content-Type": "text/plain"})
    assert as_text.status_code == 415
    record("content_types", {"refused": seen, "text_body": as_text.status_code})
