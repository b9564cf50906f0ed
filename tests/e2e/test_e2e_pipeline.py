"""End to end on the real stack: a real recording in through the presigned POST and through the
multipart route, every state in order, the output as asked, the download, and then erasure."""

from __future__ import annotations

import io
import json
import time

import httpx
import numpy as np
import pytest
import soundfile as sf

from shared.timing import STAGES
from tests.stackutil import start_stack, wait_status

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server):
    running = start_stack(tmp_path_factory.mktemp("e2e"), s3_server)
    yield running
    running.stack.stop_all()


@pytest.fixture(scope="module")
def recording(data_dir) -> bytes:
    """30 s of a real, noisy 8 kHz phone-quality recording, as FLAC."""
    audio, rate = sf.read(str(data_dir / "real_noisy" / "silero-vad__examples__c++__aepyx_8k.wav"),
                          dtype="float32", frames=30 * 8000)
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="FLAC")
    return buffer.getvalue()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_presigned_upload_runs_every_state_and_erases_after_download(stack, recording, tmp_path):
    client = httpx.Client(base_url=stack.api_url, timeout=30)
    created = client.post("/v1/jobs", json={
        "filename": "interview.flac", "content_type": "audio/flac", "size_bytes": len(recording),
        "options": {"preset": "podcast", "sample_rate_hz": 48000, "format": "wav"},
    })
    assert created.status_code == 201, created.text
    job = created.json()
    job_id, token = job["id"], job["token"]
    assert job["status"] == "awaiting_upload"

    upload = job["upload"]
    t_upload = time.monotonic()
    posted = httpx.post(upload["url"], data=upload["fields"],
                        files={"file": ("interview.flac", recording, "audio/flac")}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text

    submitted = client.post(f"/v1/jobs/{job_id}/submit", headers=_auth(token))
    assert submitted.status_code == 202, submitted.text
    done = wait_status(client, job_id, token, {"succeeded", "failed"}, timeout_s=600)
    wall_s = time.monotonic() - t_upload
    assert done["status"] == "succeeded", done["error"]

    states = [entry["status"] for entry in done["timeline"]]
    assert states == ["awaiting_upload", "queued", "enhancing", "upsampling", "succeeded"]
    assert done["progress"] == 1.0
    assert done["input"]["duration_s"] == pytest.approx(30.0, abs=0.1)
    assert done["engine"]["enhancer"] and done["engine"]["upsampler"]
    metrics = done["metrics"]
    assert abs(metrics["output_lufs"] - (-16.0)) <= 0.5
    assert metrics["output_true_peak_dbtp"] <= -1.0
    stages = metrics["stage_seconds"]  # both workers' stages, one timing helper
    assert set(stages) == set(STAGES) and all(v >= 0 for v in stages.values())
    assert stages["decode"] > 0 and stages["enhance"] > 0 and stages["master"] > 0
    assert stages["encode"] == 0.0  # WAV: mastered straight into the delivered file
    assert sum(stages.values()) <= metrics["enhance_s"] + metrics["upsample_s"] + 0.01 <= wall_s

    result = client.get(f"/v1/jobs/{job_id}/result", headers=_auth(token),
                        follow_redirects=False)
    assert result.status_code == 303
    audio_bytes = httpx.get(result.headers["location"], timeout=30)
    assert audio_bytes.status_code == 200
    out, rate = sf.read(io.BytesIO(audio_bytes.content), dtype="float32")
    assert rate == 48000 and len(out) == pytest.approx(30 * 48000, abs=48)
    info = sf.info(io.BytesIO(audio_bytes.content))
    assert info.format == "WAV" and info.subtype == "PCM_24"

    # the download grace (2 s in this stack) passes → every object erased, receipt on the tombstone
    purged = wait_status(client, job_id, token, {"purged"}, timeout_s=60)
    assert purged["deletion"]["verified_empty"] is True
    assert purged["deletion"]["objects"] >= 3
    assert stack.storage().list_prefix(f"jobs/{job_id}/") == []
    assert httpx.get(result.headers["location"], timeout=30).status_code in (403, 404)

    timeline = {entry["status"]: entry["at"] for entry in purged["timeline"]}
    compute_s = metrics.get("enhance_s", 0) + metrics.get("upsample_s", 0)
    (tmp_path / "timeline.json").write_text(json.dumps(
        {"timeline": timeline, "wall_s": wall_s, "compute_s": compute_s,
         "overhead_s": wall_s - compute_s}, indent=2))
    print("E2E_TIMELINE", json.dumps({"timeline": timeline, "wall_s": round(wall_s, 2),
                                      "compute_s": round(compute_s, 2)}))


def test_multipart_one_shot_upload_as_flac_44k(stack, recording):
    client = httpx.Client(base_url=stack.api_url, timeout=60)
    created = client.post("/v1/jobs", files={"file": ("memo.flac", recording, "audio/flac")},
                          data={"options": json.dumps({"preset": "broadcast",
                                                       "sample_rate_hz": 44100,
                                                       "format": "flac"})})
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] == "queued"
    done = wait_status(client, job["id"], job["token"], {"succeeded", "failed"}, timeout_s=600)
    assert done["status"] == "succeeded", done["error"]
    assert abs(done["metrics"]["output_lufs"] - (-23.0)) <= 0.5
    result = client.get(f"/v1/jobs/{job['id']}/result", headers=_auth(job["token"]),
                        follow_redirects=True)
    assert result.status_code == 200  # followed the 303
    out, rate = sf.read(io.BytesIO(result.content), dtype="float32")
    assert rate == 44100 and sf.info(io.BytesIO(result.content)).format == "FLAC"
    # spectral content: the output has energy above 8 kHz only if an upsampler added it; at
    # least it must keep the speech band
    spectrum = np.abs(np.fft.rfft(out[: 44100 * 10]))
    freqs = np.fft.rfftfreq(44100 * 10, 1 / 44100)
    assert spectrum[(freqs > 300) & (freqs < 3400)].mean() > spectrum[freqs > 16000].mean()


def test_rejected_input_fails_with_a_code_before_enhancement(stack):
    client = httpx.Client(base_url=stack.api_url, timeout=60)
    created = client.post("/v1/jobs", files={"file": ("notes.wav", b"this is not audio" * 50,
                                                      "audio/wav")})
    assert created.status_code == 201, created.text
    job = created.json()
    done = wait_status(client, job["id"], job["token"], {"succeeded", "failed"}, timeout_s=120)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "not_audio"
    assert "upsampling" not in [entry["status"] for entry in done["timeline"]]
