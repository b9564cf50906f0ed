"""The result page's quality report and the publish formats, in real headless Chromium against
the real stack: a noisy recording delivered as MP3 shows a before/after DNSMOS table holding the
job's own numbers; a video upload is offered (and given) a video back, picture untouched.

The DNSMOS screenshot is saved in the test's tmp folder, and also to $SPEAKUP_SCREENSHOT_DIR
when that is set (nothing is written into the repository).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import real_data_dir
from tests.shared.test_video import make_video, video_packets
from tests.stackutil import start_stack
from tests.upsampler.test_output_formats import speech_like
from tests.web.web_support import (
    PollLog,
    browser,
    encode_m4a,
    open_page,
    real_clip,
    sample_progress,
)

__all__ = ["browser"]  # a fixture

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
REAL = "real_noisy/demopage-voicefixer__real__xigua.wav"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server):
    running = start_stack(tmp_path_factory.mktemp("webq"), s3_server)
    yield running
    running.stack.stop_all()


@pytest.fixture(scope="module")
def noisy_m4a() -> bytes:
    """10 s of a real noisy recording where the data folder is, else a noisy voice-like signal."""
    data = real_data_dir()
    if (data / REAL).is_file():
        return encode_m4a(real_clip(data, REAL, 10.0, 44100), 44100)
    rng = np.random.default_rng(11)
    noisy = speech_like(10.0, 44100, seed=11) + 0.03 * rng.standard_normal(441000)
    return encode_m4a(noisy.astype(np.float32)[:, None], 44100)


def _job(stack, polls: PollLog, token_from_page) -> dict:
    response = httpx.get(f"{stack.api_url}/v1/jobs/{polls.job_id}",
                         headers={"Authorization": f"Bearer {token_from_page}"}, timeout=30)
    return response.json()


def _table(page) -> dict[str, list[str]]:
    rows = {}
    for row in page.locator("#quality-rows tr").all():
        rows[row.get_attribute("data-score")] = row.locator("td").all_inner_texts()
    return rows


def test_the_result_shows_dnsmos_before_and_after_for_an_mp3(browser, stack, noisy_m4a,
                                                             tmp_path):
    polls = PollLog()
    context, page, problems = open_page(browser, stack.api_url, polls,
                                        viewport={"width": 900, "height": 1000})
    tokens: list[str] = []
    page.on("response", lambda r: tokens.append(r.json()["token"])
            if r.request.method == "POST" and r.url.endswith("/v1/jobs") and r.status == 201
            else None)
    page.set_input_files("#file", files=[{"name": "interview.m4a", "mimeType": "audio/mp4",
                                          "buffer": noisy_m4a}])
    page.wait_for_selector("#chosen:not([hidden])")
    page.wait_for_timeout(500)  # the page's own probe of the file
    assert page.is_hidden("#format-video-choice")  # no picture: no video offered
    page.click(".choice:has-text('MP3')")
    page.click("summary")
    page.select_option("#engine", "dsp")
    page.click("#start")
    samples = sample_progress(page, {"ready", "error"}, 240)
    assert samples[-1]["phase"] == "ready", page.inner_text("#error-card")
    page.wait_for_selector("#quality:not([hidden])")
    job = _job(stack, polls, tokens[0])
    metrics = job["metrics"]
    table = _table(page)
    for key in ("sig", "bak", "ovrl"):
        before, after, change = table[key]
        assert before == f"{metrics[f'dnsmos_{key}_in']:.2f}"
        assert after == f"{metrics[f'dnsmos_{key}_out']:.2f}"
        expected = metrics[f"dnsmos_{key}_out"] - metrics[f"dnsmos_{key}_in"]
        assert float(change.replace("−", "-")) == pytest.approx(expected, abs=0.011)
    assert table["bandwidth"][0].endswith("kHz") and table["bandwidth"][1].endswith("kHz")
    facts = dict(zip(page.locator("#facts dt").all_inner_texts(),
                     page.locator("#facts dd").all_inner_texts(), strict=True))
    assert facts["Delivered as"].startswith("MP3 VBR")
    page.wait_for_selector("body[data-spectra=drawn]", timeout=30000)
    shot = tmp_path / "result-dnsmos.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("SPEAKUP_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["SPEAKUP_SCREENSHOT_DIR"]) / shot.name)
    print("DNSMOS_PAGE", {k: v for k, v in table.items()})
    assert page.get_attribute("#download", "download").endswith("-speakup.mp3")
    assert not problems, problems
    context.close()


def test_a_video_upload_is_offered_and_given_a_video_back(browser, stack, tmp_path):
    src = tmp_path / "vlog.webm"
    make_video(src, "webm", "libvpx-vp9", "libopus", seconds=3.0)
    polls = PollLog()
    context, page, problems = open_page(browser, stack.api_url, polls)
    page.set_input_files("#file", files=[{"name": "vlog.webm", "mimeType": "video/webm",
                                          "buffer": src.read_bytes()}])
    page.wait_for_selector("#format-video-choice:not([hidden])", timeout=10000)
    assert page.is_checked("input[name=format][value=video]")  # a video in, a video out
    assert "WEBM" in page.inner_text("#format-video-hint")
    page.click("summary")
    page.select_option("#engine", "passthrough")
    page.select_option("#upsampler", "resample")
    page.click("#start")
    samples = sample_progress(page, {"ready", "error"}, 120)
    assert samples[-1]["phase"] == "ready", page.inner_text("#error-card")
    facts = dict(zip(page.locator("#facts dt").all_inner_texts(),
                     page.locator("#facts dd").all_inner_texts(), strict=True))
    assert facts["Delivered as"].startswith("WEBM video · picture untouched · Opus")
    with page.expect_download() as download_info:
        page.click("#download")
    download = download_info.value
    assert download.suggested_filename == "vlog-speakup.webm"
    dst = tmp_path / "out.webm"
    download.save_as(dst)
    assert video_packets(dst) == video_packets(src)
    assert not problems, problems
    context.close()
