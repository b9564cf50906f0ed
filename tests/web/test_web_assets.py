"""The page's files without a browser: everything it loads ships with the api (no CDN, no
external origin), every control has a label, the api serves the page with its CSP, and the
client-side spectrogram's FFT finds the bandwidth of known signals (run under node)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.api.app import WEB_DIR, create_app
from shared.settings import Settings


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self._label_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name in ("src", "href"):
            if a.get(name):
                self.urls.append(str(a[name]))
        if tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.label_for.add(str(a["for"]))
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append({**a, "_tag": tag, "_in_label": str(self._label_depth > 0)})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_depth -= 1


def _page() -> _Page:
    parser = _Page()
    parser.feed((WEB_DIR / "index.html").read_text())
    return parser


def test_everything_the_page_loads_ships_with_the_api():
    page = _page()
    for url in page.urls:
        assert url.startswith(("/", "#")) and not url.startswith("//"), url
        if url.startswith("/web/"):
            assert (WEB_DIR / url.removeprefix("/web/")).is_file(), url
    for path in WEB_DIR.iterdir():
        # an SVG namespace is a name, not a request
        text = path.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"https?://", text), f"{path.name} names an external origin"
        if path.suffix == ".js":
            for module in re.findall(r'from\s+"(\.[^"]+)"', text):
                assert (WEB_DIR / module).is_file(), f"{path.name} imports {module}"
        if path.suffix in (".js", ".css", ".html"):
            assert len(text.splitlines()) <= 300, f"{path.name} is longer than 300 lines"


def test_every_control_has_a_name_for_screen_readers():
    page = _page()
    for control in page.controls:
        named = (control.get("id") in page.label_for or control["_in_label"] == "True"
                 or control.get("aria-label") or control.get("aria-labelledby"))
        assert named, control


def test_the_api_serves_the_page_with_its_security_headers():
    settings = Settings(storage_backend="s3", s3_endpoint_url="http://127.0.0.1:9000",
                        s3_bucket="speakup")
    client = TestClient(create_app(settings))  # no lifespan: the page needs no backend
    index = client.get("/")
    assert index.status_code == 200 and "Enhance my recording" in index.text
    csp = index.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "http://127.0.0.1:9000" in csp  # uploads go there
    assert index.headers["x-frame-options"] == "DENY"
    for name, kind in (("app.js", "javascript"), ("style.css", "text/css"),
                       ("icon.svg", "image/svg+xml")):
        asset = client.get(f"/web/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"], name


SPECTRUM_SCRIPT = """
import { powerFrames, bandwidthHz } from "%s";
const rate = 48000, n = rate * 2;
const result = {};
for (const [name, tones] of Object.entries({narrow: [300, 1200, 3400], wide: [300, 5000, 15000]})) {
  const x = new Float32Array(n);
  tones.forEach((f, k) => {  // the first tone loudest: it must be the peak bin
    const a = k === 0 ? 0.4 : 0.1;
    for (let i = 0; i < n; i++) x[i] += a * Math.sin(2 * Math.PI * f * i / rate);
  });
  const frames = powerFrames(x, 64);
  const peakBin = frames[10].indexOf(Math.max(...frames[10]));
  result[name] = { bandwidth: bandwidthHz(frames, rate), peakHz: peakBin * rate / 2048 };
}
console.log(JSON.stringify(result));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_client_side_spectrogram_finds_known_bandwidths(tmp_path: Path):
    script = tmp_path / "check.mjs"
    script.write_text(SPECTRUM_SCRIPT % (WEB_DIR / "spectrogram.js").as_uri())
    answer = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0, answer.stderr
    result = json.loads(answer.stdout)
    assert 3400 <= result["narrow"]["bandwidth"] <= 3700  # a phone band: nothing above 3.4 kHz
    assert 15000 <= result["wide"]["bandwidth"] <= 15300
    assert abs(result["narrow"]["peakHz"] - 300) < 25  # the FFT's bins land where they should


class _Options(HTMLParser):
    def __init__(self, select_id: str) -> None:
        super().__init__()
        self.select_id, self.inside, self.values = select_id, False, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "select":
            self.inside = a.get("id") == self.select_id
        elif tag == "option" and self.inside:
            self.values.append(str(a.get("value")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.inside = False


def test_every_enhancer_can_be_picked_on_the_page_and_in_the_cli(capsys) -> None:
    # the page and `speakup enhance --help` once lacked erbnet and deepfilternet
    from services.enhancer import engines
    from speakup.cli import main

    page = _Options("engine")
    page.feed((WEB_DIR / "index.html").read_text())
    registered = set(engines.names())
    assert set(page.values) == registered | {"auto"}
    with pytest.raises(SystemExit):
        main(["enhance", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name in registered:
        assert re.search(rf"\b{name}\b", help_text), name
