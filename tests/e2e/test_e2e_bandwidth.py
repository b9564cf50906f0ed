"""The bandwidth-aware chain through the real stack (Redis, S3, api, Celery enhancer and
upsampler workers): a 48 kHz phone memo's band above 8 kHz travels from the enhancer to the
upsampler through storage (`enhanced_fullband.wav`), and every job's metrics carry its
bandwidth in → out, out never narrower."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
import soxr

from shared.audio.bandwidth import RESOLUTION_HZ
from tests.media import av_encode, fullband_speech
from tests.stackutil import start_stack, wait_status

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server):
    running = start_stack(tmp_path_factory.mktemp("bandwidth"), s3_server)
    yield running
    running.stack.stop_all()


def _run_job(stack, data: bytes) -> dict:
    client = httpx.Client(base_url=stack.api_url, timeout=60)
    options = {"engine": "dsp", "upsampler": "resample", "format": "wav"}
    created = client.post("/v1/jobs", files={"file": ("memo.m4a", data, "audio/mp4")},
                          data={"options": json.dumps(options)})
    assert created.status_code == 201, created.text
    job = created.json()
    done = wait_status(client, job["id"], job["token"], {"succeeded", "failed"}, timeout_s=300)
    assert done["status"] == "succeeded", done["error"]
    deleted = client.delete(f"/v1/jobs/{job['id']}",
                            headers={"Authorization": f"Bearer {job['token']}"})
    assert deleted.status_code == 204
    done["receipt"] = client.get(f"/v1/jobs/{job['id']}",
                                 headers={"Authorization": f"Bearer {job['token']}"}
                                 ).json()["deletion"]
    return done


@pytest.mark.parametrize("rate_hz", [48000, 8000])
def test_the_job_reports_bandwidth_in_and_out_and_never_narrows(stack, rate_hz):
    clean, _ = fullband_speech(8.0, 48000, 16000, seed=21)
    noisy = clean + 0.005 * np.random.default_rng(22).standard_normal(len(clean))
    audio = soxr.resample(noisy, 48000, rate_hz) if rate_hz != 48000 else noisy
    data = av_encode("ipod", "aac", [audio.astype(np.float32)[:, None]], rate_hz,
                     options={"b": "128000"})
    done = _run_job(stack, data)
    metrics = done["metrics"]
    print("BANDWIDTH_JOB", rate_hz, metrics["bandwidth_in_hz"], metrics["bandwidth_out_hz"])
    assert done["input"]["bandwidth_hz"] == metrics["bandwidth_in_hz"]
    assert metrics["bandwidth_out_hz"] >= metrics["bandwidth_in_hz"] - RESOLUTION_HZ
    if rate_hz == 48000:  # its own band kept: enhanced, full-band intermediate, input, output
        assert metrics["bandwidth_in_hz"] > 16000
        assert done["engine"]["upsampler"] == "none"  # AAC keeps ~22 kHz: nothing to invent
        assert done["receipt"]["objects"] == 4
    else:  # a 4 kHz phone band: the old chain, super-resolution from 16 kHz
        assert metrics["bandwidth_in_hz"] <= 4100
        assert done["engine"]["upsampler"] == "resample"
        assert done["receipt"]["objects"] == 3
