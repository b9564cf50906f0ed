"""The page when things go wrong, and recording in the browser, in headless Chromium against a
small real stack (redis-server, S3 through ministack, the api, the enhancer worker): a file that
is not audio, an upload that outlives its presigned URL, cancelling, and a MediaRecorder take
from Chromium's fake microphone."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.media import tone
from tests.stackutil import start_stack
from tests.web.web_support import (
    PollLog,
    browser,
    encode_m4a,
    open_page,
    sample_progress,
    throttle_upload,
)

__all__ = ["browser"]  # a fixture
pytestmark = [pytest.mark.e2e, pytest.mark.integration]
UPLOAD_URL_EXPIRY_S = 10  # the smallest the settings allow


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server):
    running = start_stack(tmp_path_factory.mktemp("webstates"), s3_server,
                          workers=("enhancer",), beat=False,
                          extra_env={"SPEAKUP_UPLOAD_URL_EXPIRY_S": str(UPLOAD_URL_EXPIRY_S)})
    yield running
    running.stack.stop_all()


def test_a_file_that_is_not_audio_gets_words_and_a_next_step(browser, stack, tmp_path):
    context, page, problems = open_page(browser, stack.api_url, PollLog())
    page.set_input_files("#file", files=[{"name": "notes.m4a", "mimeType": "audio/mp4",
                                          "buffer": b"shopping list: milk, eggs\n" * 200}])
    page.click("#start")
    sample_progress(page, {"ready", "error"}, 60)
    assert page.get_attribute("body", "data-error-code") == "not_audio"
    assert page.inner_text("#error-title") == "We can't read this file"
    assert "m4a, mp3, wav or flac" in page.inner_text("#error-next")
    assert page.is_visible("#restart") and not page.is_visible("#retry")
    assert "Traceback" not in page.inner_text("body")
    assert page.evaluate("document.activeElement.id") == "error-title"  # announced (role=alert)
    page.screenshot(path=str(tmp_path / "error.png"), full_page=True)
    page.click("#restart")
    assert page.is_visible("#job-form") and page.get_attribute("body", "data-phase") == "idle"
    assert not problems, problems
    context.close()


def test_an_upload_slower_than_its_link_expiry_says_so_and_retry_gets_a_fresh_link(
        browser, stack, tmp_path):
    # ≈ 15 s of upload at 7 kB/s: longer than the presigned POST's 10 s
    noisy_tone = tone(440, 12.0, 44100) + np.random.default_rng(0).normal(
        0, 0.05, (int(12.0 * 44100), 1)).astype(np.float32)
    m4a = encode_m4a(noisy_tone, 44100)
    assert len(m4a) > 12 * 7_000, len(m4a)
    polls = PollLog()
    context, page, problems = open_page(browser, stack.api_url, polls)
    cdp = throttle_upload(context, page, 7_000)
    page.set_input_files("#file", files=[{"name": "long-walk.m4a", "mimeType": "audio/mp4",
                                          "buffer": m4a}])
    page.click("summary")
    page.select_option("#engine", "passthrough")
    page.click("#start")
    sample_progress(page, {"error"}, 60)
    assert page.get_attribute("body", "data-error-code") == "upload_expired"
    assert page.inner_text("#error-title") == "The upload link expired"
    assert "fresh link" in page.inner_text("#error-next")
    page.screenshot(path=str(tmp_path / "upload-expired.png"), full_page=True)

    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                  "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    page.click("#retry")  # a new job, a fresh presigned POST, the same file
    sample_progress(page, {"processing"}, 30)
    page.wait_for_selector("#steps li[data-step=upload][data-state=done]")
    # no upsampler runs in this stack: the job waits after the enhance stage (65 %), where
    # nothing writes to storage any more
    page.wait_for_function("() => document.getElementById('job-progress').value >= 65",
                           timeout=60000)
    job_id = polls.job_id
    assert job_id is not None
    page.click("#cancel")
    sample_progress(page, {"error"}, 30)
    assert page.get_attribute("body", "data-error-code") == "cancelled"
    page.wait_for_timeout(300)
    assert stack.storage().list_prefix(f"jobs/{job_id}/") == []  # cancel erased the upload
    # the expired attempt's storage refusal is the only console error
    assert all("403" in p or "Forbidden" in p for p in problems), problems
    context.close()


def test_recording_in_the_browser_makes_a_webm_file(browser, stack):
    context, page, problems = open_page(browser, stack.api_url, PollLog())
    page.click("#record")
    page.wait_for_selector("#record[aria-pressed=true]", timeout=10000)
    page.wait_for_timeout(2200)
    page.click("#record")
    page.wait_for_selector("#chosen:not([hidden])")
    name = page.inner_text("#chosen-name")
    assert re.fullmatch(r"recording-\d{12}\.webm", name), name
    assert "Recorded" in page.inner_text("#record-status")
    size_kb = page.evaluate("document.getElementById('record-status').textContent")
    assert re.search(r"Recorded \d+ kB", size_kb), size_kb
    assert not problems, problems
    context.close()
