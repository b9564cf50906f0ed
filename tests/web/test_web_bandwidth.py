"""The result page's "sound up to" before and after, in real headless Chromium against the real
stack: for a 48 kHz phone memo with speech to 16 kHz, a real noisy 44.1 kHz recording and an
8 kHz phone call, the page's own spectrogram estimate and the job's metrics both say the result
reaches at least as high as what was uploaded.

A screenshot of each result page is saved in the test's tmp folder, and also to
$SPEAKUP_SCREENSHOT_DIR when that is set (nothing is written into the repository).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soxr

from shared.audio.bandwidth import RESOLUTION_HZ
from tests.conftest import real_data_dir
from tests.media import av_encode, fullband_speech
from tests.stackutil import start_stack
from tests.web.web_support import PollLog, browser, open_page, real_clip, sample_progress

__all__ = ["browser"]  # a fixture

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
REAL = "real_noisy/demopage-voicefixer__real__xigua.wav"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server):
    running = start_stack(tmp_path_factory.mktemp("webbw"), s3_server)
    yield running
    running.stack.stop_all()


def memo_48k() -> bytes:
    clean, _ = fullband_speech(8.0, 48000, 16000, seed=31)
    noisy = clean + 0.004 * np.random.default_rng(32).standard_normal(len(clean))
    return av_encode("ipod", "aac", [noisy.astype(np.float32)[:, None]], 48000,
                     options={"b": "128000"})


def call_8k() -> bytes:
    clean, _ = fullband_speech(8.0, 48000, 7000, seed=33)
    narrow = soxr.resample(clean, 48000, 8000) + 0.003 * np.random.default_rng(34).standard_normal(
        8 * 8000)
    return av_encode("ipod", "aac", [narrow.astype(np.float32)[:, None]], 8000)


def real_44k() -> bytes:
    data = real_data_dir()
    if not (data / REAL).is_file():
        pytest.skip(f"real recordings not found at {data}")
    return av_encode("ipod", "aac", [real_clip(data, REAL, 10.0, 44100)], 44100,
                     options={"b": "128000"})


RECORDINGS = {"memo-48k.m4a": memo_48k, "real-44k.m4a": real_44k, "call-8k.m4a": call_8k}


def _khz(text: str) -> float:
    return float(text.split()[0].replace("≈", "")) * 1000


@pytest.mark.parametrize("name", list(RECORDINGS))
def test_the_result_reaches_at_least_as_high_as_the_upload(browser, stack, tmp_path, name):
    data = RECORDINGS[name]()
    polls = PollLog()
    context, page, problems = open_page(browser, stack.api_url, polls,
                                        viewport={"width": 900, "height": 1000})
    page.set_input_files("#file", files=[{"name": name, "mimeType": "audio/mp4",
                                          "buffer": data}])
    page.wait_for_selector("#chosen:not([hidden])")
    page.click("summary")
    page.select_option("#engine", "dsp")
    page.click("#start")
    samples = sample_progress(page, {"ready", "error"}, 300)
    assert samples[-1]["phase"] == "ready", page.inner_text("#error-card")
    page.wait_for_selector("body[data-spectra=drawn]", timeout=60000)
    page.wait_for_selector("#quality:not([hidden])")
    # the page's own estimate, from the audio it plays
    before = int(page.get_attribute("#spec-before", "data-bandwidth-hz"))
    after = int(page.get_attribute("#spec-after", "data-bandwidth-hz"))
    # and the job's, in the quality table ("Sound up to": in, out)
    row = page.locator("#quality-rows tr[data-score=bandwidth] td").all_inner_texts()
    table_in, table_out = _khz(row[0]), _khz(row[1])
    print("BANDWIDTH_PAGE", name, {"page": [before, after], "table": [table_in, table_out],
                                   "labels": [page.inner_text("#band-before"),
                                              page.inner_text("#band-after")]})
    assert after >= before - RESOLUTION_HZ
    assert table_out >= table_in - RESOLUTION_HZ
    facts = dict(zip(page.locator("#facts dt").all_inner_texts(),
                     page.locator("#facts dd").all_inner_texts(), strict=True))
    if name == "memo-48k.m4a":
        assert before > 15000 and table_in > 15000  # the band the old chain threw away
        assert facts["Bandwidth"] == "the recording's own, kept — nothing to restore"
    shot = tmp_path / f"result-bandwidth-{name.split('.')[0]}.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("SPEAKUP_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["SPEAKUP_SCREENSHOT_DIR"]) / shot.name)
    assert not problems, problems
    context.close()
