"""The quality report: DNSMOS P.835 run with onnxruntime alone equals speechmos' own scores, the
excerpt sits where speech is and stays within the budget, bandwidth reads what a file holds, and
the report needs neither torch nor librosa (the upsampler image has neither)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from services.upsampler import dnsmos
from services.upsampler.quality import (
    FRAME_S,
    WINDOW_S,
    bandwidth_hz,
    choose_windows,
    frame_levels_db,
    measure_input,
    quality_report,
    windows_for,
)
from tests.upsampler.test_output_formats import speech_like

REPO = Path(__file__).resolve().parents[2]


def test_scores_equal_speechmos_own_run():
    speechmos = pytest.importorskip("speechmos.dnsmos")  # needs librosa (the eval extra)
    rng = np.random.default_rng(0)
    for noise in (0.0, 0.05):
        x = speech_like(9.01, 16000, seed=2) + noise * rng.standard_normal(144160)
        x = np.clip(x, -1, 1).astype(np.float32)
        theirs = speechmos.run(x, sr=16000)
        ours = dnsmos.score([x])
        assert ours["sig"] == pytest.approx(theirs["sig_mos"], abs=1e-4)
        assert ours["bak"] == pytest.approx(theirs["bak_mos"], abs=1e-4)
        assert ours["ovrl"] == pytest.approx(theirs["ovrl_mos"], abs=1e-4)


def test_short_windows_are_repeated_as_speechmos_does():
    x = speech_like(3.0, 16000, seed=1)
    fitted = dnsmos.fit_window(x)
    assert len(fitted) == dnsmos.WINDOW_SAMPLES
    assert np.array_equal(fitted[:len(x)], x) and np.array_equal(fitted[len(x):2 * len(x)], x)


def test_windows_per_side_follow_the_budget():
    assert windows_for(5.0) == 1  # shorter than a window: the whole recording, once
    assert windows_for(30.0) == 1
    assert windows_for(300.0) == 1  # a 5-minute memo: within 0.004 of its duration
    assert windows_for(600.0) == 2
    assert windows_for(7200.0) == 3  # never more: the excerpt is bounded


def test_windows_land_where_speech_is(tmp_path: Path):
    """Two minutes: silence with a hum, speech only in 20-40 s and 90-110 s."""
    rate = 16000
    t = np.arange(120 * rate) / rate
    x = 0.001 * np.sin(2 * np.pi * 50 * t)
    for start in (20, 90):
        span = slice(start * rate, (start + 20) * rate)
        x[span] += speech_like(20.0, rate, seed=start)
    path = tmp_path / "enhanced.wav"
    sf.write(str(path), x.astype(np.float32), rate, subtype="FLOAT")
    levels = frame_levels_db(path)
    assert len(levels) == pytest.approx(120 / FRAME_S, abs=1)
    windows = choose_windows(levels, 3)
    assert len(windows) == 3
    for start_s, length_s in windows:
        assert length_s == pytest.approx(WINDOW_S)
        on_speech = sum(max(0.0, min(start_s + length_s, a + 20) - max(start_s, a))
                        for a in (20, 90))
        assert on_speech >= 0.6 * length_s, windows  # not on the hum
    assert {int(start_s // 60) for start_s, _ in windows} == {0, 1}  # both passages sampled
    ends = [start_s + length_s for start_s, length_s in windows]
    assert all(end <= nxt + FRAME_S for end, (nxt, _) in zip(ends, windows[1:], strict=False))


def test_bandwidth_reads_the_band_a_file_holds():
    rng = np.random.default_rng(4)
    wide = rng.standard_normal(48000 * 3)
    narrow = soxr.resample(soxr.resample(wide, 48000, 8000), 8000, 48000)  # phone band
    assert bandwidth_hz([wide], 48000) > 20000
    assert 3500 < bandwidth_hz([narrow], 48000) <= 4300


def test_report_on_files_of_any_format(tmp_path: Path):
    """A noisy 8 kHz "phone" input (m4a) and a clean 48 kHz output (mp3): every field, in
    range, and the report's cost recorded."""
    from tests.media import av_encode

    rate = 48000
    clean = speech_like(20.0, rate, seed=9)
    rng = np.random.default_rng(9)
    phone = soxr.resample(clean, rate, 8000) + 0.03 * rng.standard_normal(20 * 8000)
    src = tmp_path / "input"
    src.write_bytes(av_encode("ipod", "aac", [phone.astype(np.float32)[:, None]], 8000))
    out = tmp_path / "output.mp3"
    out.write_bytes(av_encode("mp3", "libmp3lame", [clean[:, None]], rate))
    enhanced = tmp_path / "enhanced.wav"
    sf.write(str(enhanced), soxr.resample(clean, rate, 16000), 16000, subtype="FLOAT")
    metrics = quality_report(src, out, enhanced)
    for side in ("in", "out"):
        for name in ("sig", "bak", "ovrl"):
            assert 1.0 <= metrics[f"dnsmos_{name}_{side}"] <= 5.0
    assert metrics["dnsmos_bak_out"] > metrics["dnsmos_bak_in"]  # the noise is gone
    assert metrics["bandwidth_in_hz"] <= 4100 < 15000 < metrics["bandwidth_out_hz"]
    assert metrics["quality_excerpt_s"] == pytest.approx(WINDOW_S, abs=0.01)
    assert metrics["quality_s"] > 0 and metrics["quality_rtf"] > 0

    # the input's half measured ahead (the CLI does while mastering): the same figures, its
    # seconds counted in the cost
    ahead = measure_input(src, enhanced)
    assert ahead.seconds > 0
    assert set(ahead.metrics) == {f"dnsmos_{n}_in" for n in ("sig", "bak", "ovrl")} | {
        "bandwidth_in_hz"}
    joined = quality_report(src, out, enhanced, input_side=ahead)
    for key in (*ahead.metrics, "dnsmos_ovrl_out", "bandwidth_out_hz", "quality_windows_s"):
        assert joined[key] == metrics[key], key
    assert joined["quality_s"] >= ahead.seconds


def test_the_report_needs_neither_torch_nor_librosa():
    code = ("import sys, numpy as np\n"
            "from services.upsampler import quality, dnsmos\n"
            "dnsmos.score([np.zeros(16000, np.float32) + 0.01])\n"
            "heavy = {'torch', 'librosa', 'numba', 'speechmos.dnsmos'} & set(sys.modules)\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)
    from tests.deploy.deploy_common import service_closure

    closure = service_closure("upsampler")
    assert {"onnxruntime", "speechmos"} <= closure
    assert not {"librosa", "numba", "torch"} & closure
