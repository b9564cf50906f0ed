"""`speakup enhance -q --json` as a user runs it (a fresh process, the default engines — the U-Net
upsampler on LiteRT, or on TensorFlow where SPEAKUP_UNET_RUNTIME says so): nothing on stderr on
success, JSON on stdout; a failing file still
says what went wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from shared.timing import STAGES
from speakup.cli_common import Exit


def _speakup(*args: str, runtime: str = "litert") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    env["SPEAKUP_UNET_RUNTIME"] = runtime
    return subprocess.run([sys.executable, "-m", "speakup", "enhance", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("runtime", ["litert", "tensorflow"])
def test_quiet_json_success_writes_nothing_to_stderr(tmp_path: Path, runtime: str) -> None:
    t = np.arange(32_000) / 16_000
    voice = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    sf.write(tmp_path / "in.wav", voice.astype(np.float32), 16_000)
    done = _speakup("-q", "--json", str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav"),
                    runtime=runtime)
    assert done.returncode == Exit.OK, done.stderr
    assert done.stderr == ""
    rows = json.loads(done.stdout)
    assert rows[0]["status"] == "ok" and (tmp_path / "out.wav").is_file()
    assert rows[0]["engine"]["upsampler"] in {"unet", "resample"}
    stages = rows[0]["metrics"]["stage_seconds"]
    assert tuple(stages) == STAGES and all(s >= 0 for s in stages.values())
    assert stages["enhance"] > 0 and stages["master"] > 0
    assert stages["encode"] == 0.0  # WAV: mastered straight into the delivered file
    assert sum(stages.values()) <= rows[0]["seconds"] + 0.01  # "seconds" is rounded to 10 ms


def test_quiet_failure_still_reports_its_error(tmp_path: Path) -> None:
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all")
    done = _speakup("-q", str(tmp_path / "broken.wav"), "-o", str(tmp_path / "out.wav"))
    assert done.returncode == Exit.REJECTED
    assert "rejected" in done.stdout and "broken.wav" in done.stdout
