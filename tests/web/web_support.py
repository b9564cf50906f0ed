"""Helpers for the browser tests: Debian's headless Chromium driven by Playwright (nothing
downloads a browser), test recordings encoded from the real data with PyAV, and a recorder of
the page's own status polls (to check that it honours Retry-After)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr

from tests.media import av_encode

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # a fake microphone (a beep) and no permission prompt, for the recording test
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
JOB_PATH = re.compile(r"/v1/jobs/([A-Za-z0-9_-]+)$")


def real_clip(data_dir: Path, relative: str, seconds: float, rate_hz: int) -> np.ndarray:
    """The first `seconds` of a real recording, mono float32 at `rate_hz`, as [samples, 1]."""
    path = data_dir / relative
    native_rate = sf.info(str(path)).samplerate
    audio, _ = sf.read(str(path), frames=int(seconds * native_rate), dtype="float32",
                       always_2d=True)
    mono = audio.mean(axis=1)
    if native_rate != rate_hz:
        mono = soxr.resample(mono, native_rate, rate_hz).astype(np.float32)
    return mono[:, None]


def encode_m4a(clip: np.ndarray, rate_hz: int) -> bytes:
    return av_encode("ipod", "aac", [clip], rate_hz)


def encode_webm(clip: np.ndarray, rate_hz: int) -> bytes:
    return av_encode("webm", "libopus", [clip], rate_hz)


@dataclass
class PollLog:
    """Every answer to the page's GET /v1/jobs/{id}: (request start s, status, Retry-After)."""

    answers: list[tuple[float, str, int | None]] = field(default_factory=list)
    job_id: str | None = None

    def on_response(self, response: Any) -> None:
        match = JOB_PATH.search(response.url.split("?", 1)[0])
        if response.request.method != "GET" or match is None or response.status != 200:
            return
        try:
            body = response.json()
        except Exception:  # noqa: BLE001 - the body may be gone once the page navigated
            return
        self.job_id = match.group(1)
        retry = response.headers.get("retry-after")
        # the browser's own clock for when the request started (event delivery to this
        # process can lag under load)
        started_s = response.request.timing["startTime"] / 1000.0
        self.answers.append((started_s, body.get("status", ""), int(retry) if retry else None))

    def statuses(self) -> list[str]:
        seen: list[str] = []
        for _, status, _ in self.answers:
            if not seen or seen[-1] != status:
                seen.append(status)
        return seen

    def gaps_vs_retry_after(self) -> list[tuple[float, int]]:
        """(time until the next poll, Retry-After the page had been told) while running."""
        pairs = []
        for (t, _, retry), (t_next, _, _) in zip(self.answers, self.answers[1:], strict=False):
            if retry is not None:
                pairs.append((t_next - t, retry))
        return pairs


def sample_progress(page: Any, until_phases: set[str], timeout_s: float) -> list[dict[str, Any]]:
    """Watch the page as a person would, every 50 ms, until its phase is one of `until_phases`."""
    samples: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sample = page.evaluate("""() => ({
            phase: document.body.dataset.phase,
            upload: document.getElementById('upload-progress').value,
            job: document.getElementById('job-progress').value,
            active: (document.querySelector('#steps li[data-state=active]') || {dataset: {}})
                      .dataset.step || null,
            caption: document.getElementById('bar-caption').textContent,
        })""")
        samples.append(sample)
        if sample["phase"] in until_phases:
            return samples
        page.wait_for_timeout(50)
    raise TimeoutError(f"page stayed {samples[-1] if samples else None}")


def audio_state(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => {
        const b = document.getElementById('audio-before');
        const a = document.getElementById('audio-after');
        return {before: b.currentTime, after: a.currentTime, beforePaused: b.paused,
                afterPaused: a.paused, beforeVolume: b.volume, afterVolume: a.volume};
    }""")


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth + 1"))


def canvas_has_picture(page: Any, canvas_id: str) -> float:
    """Standard deviation of the canvas' pixels (0 for a blank canvas)."""
    return float(page.evaluate("""(id) => {
        const c = document.getElementById(id);
        const d = c.getContext('2d').getImageData(40, 0, c.width - 40, c.height).data;
        let sum = 0, sq = 0, n = 0;
        for (let i = 0; i < d.length; i += 4) {
            const v = d[i] + d[i + 1] + d[i + 2];
            sum += v; sq += v * v; n++;
        }
        return Math.sqrt(sq / n - (sum / n) ** 2);
    }""", canvas_id))


@pytest.fixture(scope="module")
def browser() -> Any:
    """Debian's chromium under Playwright (import this fixture into a test module)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser: Any, api_url: str, polls: PollLog, **context_args: Any) -> Any:
    """A fresh context and page at the api's `/`; returns (context, page, console problems)."""
    context = browser.new_context(accept_downloads=True, **context_args)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("response", polls.on_response)
    page.goto(api_url + "/")
    return context, page, problems


def throttle_upload(context: Any, page: Any, bytes_per_s: int) -> Any:
    """Slow the uplink (Chrome DevTools network emulation), e.g. so upload progress shows."""
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 20, "downloadThroughput": -1,
        "uploadThroughput": bytes_per_s})
    return cdp
