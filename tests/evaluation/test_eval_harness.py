"""End to end: `python -m evaluation` on tiny sets writes the JSON and markdown others rely on."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from evaluation.cli import main

RATE_HZ = 16_000
REQUIRED_KEYS = (
    "pesq_wb",
    "stoi",
    "estoi",
    "si_sdr",
    "si_sdr_improvement",
    "lsd",
    "dnsmos_ovrl",
    "rtf",
)


def speech_like(duration_s: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * RATE_HZ)) / RATE_HZ
    f0_hz = 110 + 40 * seed + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0_hz) / RATE_HZ
    x = sum(np.sin(k * phase) / k for k in range(1, 25))
    envelope = np.clip(np.sin(2 * np.pi * 2.0 * t + rng.uniform(0, 6)), 0, None) ** 0.7
    x = lfilter([1], [1, -1.3, 0.6], x * envelope)
    return (0.1 * x / np.max(np.abs(x))).astype(np.float32)


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for sub in ("noisy", "clean", "real"):
        (root / sub).mkdir()
    rng = np.random.default_rng(0)
    for index, snr_db in enumerate((0.0, 10.0)):
        clean = speech_like(3.0, index)
        noise = rng.standard_normal(len(clean)).astype(np.float32)
        noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2)) / 10 ** (snr_db / 20)
        sf.write(root / "clean" / f"s{index}.wav", clean, RATE_HZ)
        sf.write(root / "noisy" / f"s{index}.wav", clean + noise, RATE_HZ)
    sf.write(
        root / "real" / "r.flac",
        speech_like(3.0, 2) + 0.01 * rng.standard_normal(3 * RATE_HZ).astype(np.float32),
        RATE_HZ,
    )
    out = tmp_path_factory.mktemp("out")
    code = main(
        ["--data", str(root), "--engines", "noisy,noisereduce", "--out", str(out), "--jobs", "1"]
    )
    return code, out


def test_exit_code_and_files(folder_run):
    code, out = folder_run
    assert code == 0
    assert (out / "results.json").is_file() and (out / "results.md").is_file()


def test_json_has_every_engine_with_the_required_means(folder_run):
    results = json.loads((folder_run[1] / "results.json").read_text())
    assert list(results["engines"]) == ["noisy", "noisereduce"]
    for engine, summary in results["engines"].items():
        for key in REQUIRED_KEYS:
            assert isinstance(summary[key], float) and math.isfinite(summary[key]), (engine, key)
        assert summary["n_items"] == 3
        assert set(summary["per_set"]) == {"paired", "real"}
    noisy, denoised = results["engines"]["noisy"], results["engines"]["noisereduce"]
    assert noisy["si_sdr_improvement"] == pytest.approx(0.0, abs=1e-9)
    assert noisy["pesq_wb"] < 4.0
    assert denoised["si_sdr_improvement"] > 1.0  # white noise on a voiced signal: it must help
    assert noisy["rtf"] < denoised["rtf"] < 1.0


def test_json_has_per_file_and_per_condition_detail(folder_run):
    results = json.loads((folder_run[1] / "results.json").read_text())
    assert len(results["files"]) == 6
    row = next(r for r in results["files"] if r["item"] == "real/r")
    assert "pesq_wb" not in row["metrics"] and "dnsmos_ovrl" in row["metrics"]
    assert "lufs" in row["metrics"] and "true_peak_dbtp" in row["metrics"]
    assert results["conditions"]["noisy"]["real"]
    assert "DeepFilterNet3" in " ".join(results["meta"]["notes"])


def test_markdown_has_the_summary_table(folder_run):
    text = (folder_run[1] / "results.md").read_text()
    assert "| engine | PESQ-WB | STOI | ESTOI |" in text
    assert "\n| noisy | " in text and "\n| noisereduce | " in text
    assert " ± " in text


@pytest.mark.slow
def test_default_sets_with_real_data(data_dir, tmp_path):
    out = tmp_path / "out"
    code = main(
        [
            "--limit",
            "2",
            "--engines",
            "noisy,rnnoise",
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--data-dir",
            str(data_dir),
        ]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["engines"]["rnnoise"]["per_set"]) == {"generated", "pairs", "real"}
    generated = results["conditions"]["rnnoise"]["generated"]
    assert set(generated["snr"]) == {"-5 dB", "+0 dB"}
    assert results["engines"]["rnnoise"]["si_sdr_improvement"] > 0
    assert "### `generated` by snr" in (out / "results.md").read_text()
