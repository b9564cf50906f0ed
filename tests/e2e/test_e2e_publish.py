"""Publish-ready results through the real stack (Redis, S3, api, Celery workers): an MP3 job, a
video job (mp4 in → mp4 out, picture untouched) and the quality report on each — DNSMOS in and
out in the job's metrics — and inputs that cannot be honoured refused with their codes."""

from __future__ import annotations

import io
import json

import av
import httpx
import numpy as np
import pytest

from tests.media import av_encode, pcm16, wav_bytes
from tests.shared.test_video import FPS, make_video, video_packets
from tests.stackutil import start_stack, wait_status
from tests.upsampler.test_output_formats import speech_like, true_peak_dbtp

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
FAST = {"engine": "passthrough", "upsampler": "resample"}
DNSMOS_FIELDS = [f"dnsmos_{name}_{side}" for side in ("in", "out")
                 for name in ("sig", "bak", "ovrl")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server):
    running = start_stack(tmp_path_factory.mktemp("publish"), s3_server)
    yield running
    running.stack.stop_all()


def _submit(stack, name: str, data: bytes, content_type: str, options: dict) -> dict:
    client = httpx.Client(base_url=stack.api_url, timeout=60)
    created = client.post("/v1/jobs", files={"file": (name, data, content_type)},
                          data={"options": json.dumps({**FAST, **options})})
    assert created.status_code == 201, created.text
    job = created.json()
    done = wait_status(client, job["id"], job["token"], {"succeeded", "failed"}, timeout_s=300)
    done["token"] = job["token"]
    return done


def _download(stack, job: dict) -> httpx.Response:
    response = httpx.get(f"{stack.api_url}/v1/jobs/{job['id']}/result",
                         headers={"Authorization": f"Bearer {job['token']}"},
                         follow_redirects=True, timeout=60)
    assert response.status_code == 200
    return response


def test_an_mp3_job_reports_dnsmos_in_and_out(stack):
    rng = np.random.default_rng(3)
    noisy = speech_like(12.0, 16000, seed=3) + 0.02 * rng.standard_normal(12 * 16000)
    data = av_encode("ipod", "aac", [noisy.astype(np.float32)[:, None]], 16000)
    done = _submit(stack, "memo.m4a", data, "audio/mp4",
                   {"format": "mp3", "preset": "podcast", "title": "Memo", "artist": "Ada"})
    assert done["status"] == "succeeded", done["error"]
    metrics = done["metrics"]
    print("DNSMOS_JOB", json.dumps({k: metrics.get(k) for k in DNSMOS_FIELDS + [
        "bandwidth_in_hz", "bandwidth_out_hz", "quality_s", "quality_rtf"]}))
    for field in DNSMOS_FIELDS:
        assert 1.0 <= metrics[field] <= 5.0, field
    assert metrics["quality_excerpt_s"] <= 3 * 9.01
    assert done["result"]["format"] == "mp3"
    response = _download(stack, done)
    assert response.headers["content-type"].startswith("audio/mpeg")
    with av.open(io.BytesIO(response.content)) as container:
        assert container.format.name == "mp3" and container.metadata.get("title") == "Memo"
        audio = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    # as long as the decoded input (its AAC's last frame padding included), to the sample
    assert len(audio) / 48000 == pytest.approx(done["input"]["duration_s"], abs=1 / 16000)
    assert true_peak_dbtp(audio) <= -1.0


def test_a_video_job_returns_the_same_picture_with_enhanced_sound(stack, tmp_path):
    src = tmp_path / "clip.mp4"
    make_video(src, "mp4", "libx264", "aac")
    done = _submit(stack, "clip.mp4", src.read_bytes(), "video/mp4",
                   {"format": "video", "preset": "video"})
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["format"] == "mp4" and done["input"]["has_video"] is True
    assert all(field in done["metrics"] for field in DNSMOS_FIELDS)
    response = _download(stack, done)
    assert response.headers["content-type"].startswith("video/mp4")
    dst = tmp_path / "out.mp4"
    dst.write_bytes(response.content)
    assert video_packets(dst) == video_packets(src)
    assert len(video_packets(dst)[1]) == 3 * FPS


def test_video_that_cannot_be_kept_fails_with_a_code(stack, tmp_path):
    data = av_encode("ipod", "aac", [speech_like(3.0, 16000, seed=1)[:, None]], 16000)
    done = _submit(stack, "memo.m4a", data, "audio/mp4", {"format": "video"})
    assert done["status"] == "failed" and done["error"]["code"] == "no_video_stream"
    src = tmp_path / "clip.mp4"
    make_video(src, "mp4", "libx264", "aac", seconds=1.0)
    done = _submit(stack, "clip.mp4", src.read_bytes(), "video/mp4", {"format": "webm"})
    assert done["status"] == "failed" and done["error"]["code"] == "video_not_remuxable"
    assert "upsampling" in [entry["status"] for entry in done["timeline"]]
    assert (done["engine"] or {}).get("upsampler") is None  # refused before the engine ran


@pytest.mark.parametrize(("bits", "align", "code"), [(7, 1, "unsupported_bit_depth"),
                                                     (16, 3, "malformed_wav_header")])
def test_impossible_wav_headers_fail_before_any_engine_runs(stack, bits, align, code):
    data = wav_bytes(pcm16(speech_like(2.0, 16000, seed=2)), bits=bits, block_align=align)
    done = _submit(stack, "take.wav", data, "audio/wav", {})
    assert done["status"] == "failed" and done["error"]["code"] == code
    assert "upsampling" not in [entry["status"] for entry in done["timeline"]]
    assert not (done["engine"] or {}).get("enhancer")  # no engine ran
