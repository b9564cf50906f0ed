"""evaluation/sr.py pieces: the cubic-spline baseline, scoring, the summary and its table."""

from __future__ import annotations

import numpy as np

from evaluation import sr
from services.upsampler.sr_metrics import to_pcm16


def test_cubic_spline_exact_length_and_passes_through_samples():
    audio = np.sin(2 * np.pi * 440 * np.arange(1601) / 16000).astype(np.float32)
    out = sr.cubic_spline(audio)
    assert len(out) == 4803
    np.testing.assert_allclose(out[::3], audio, atol=1e-6)  # interpolates, never moves samples


def test_score_summary_and_table_rank_a_better_estimate_higher_and_count_lines():
    rng = np.random.default_rng(0)
    reference = to_pcm16(rng.normal(0, 0.1, 48000))
    close = to_pcm16(reference + 0.01 * rng.normal(size=48000))
    far = to_pcm16(reference + 0.05 * rng.normal(size=48000))
    whistle = to_pcm16(close + 0.02 * np.sin(2 * np.pi * 12000 * np.arange(48000) / 48000))
    rows = []
    for filter_name in ("soxr", "chebyshev", "mp3"):
        for engine, estimate in (("resample", far), ("unet", close), ("cubic", whistle)):
            rows.append({"file": "clean/a.wav", "filter": filter_name, "engine": engine,
                         **sr.score(reference, estimate)})
    summary = sr.summarise(rows)
    assert set(summary["unet"]) == {"soxr", "chebyshev", "mp3", "reference set", "all"}
    assert summary["unet"]["reference set"]["items"] == 2
    assert summary["unet"]["all"]["snr_db"] > summary["resample"]["all"]["snr_db"] + 10
    for key in ("lsd", "lsd_high", "lsd_db"):
        assert summary["unet"]["soxr"][key] < summary["resample"]["soxr"][key]
    assert summary["unet"]["all"]["lines"] == 0
    assert summary["cubic"]["all"]["lines"] == 1
    assert summary["cubic"]["all"]["items_with_lines"] == 1
    table = sr.markdown({"summary": summary, "rtf": {"resample": 0.01, "unet": 0.1, "cubic": 0.0},
                         "files": ["a"], "set": "test", "threads": 2, "machine": "test",
                         "checkpoint": None})
    assert "| soxr | unet |" in table and "| **all** | resample |" in table
    assert "| **reference set** | cubic |" in table
    folders = sr.by_folder(rows)
    assert list(folders) == ["clean"] and folders["clean"]["unet"]["items"] == 2


def test_describe_set_counts_ravdess_actors():
    files = ["clean/p227_001.wav", "fullband_ravdess/ravdess__Actor_04__x.flac",
             "fullband_ravdess/ravdess__Actor_19__y.flac"]
    assert sr.describe_set(files) == (
        "1 from clean/, 2 RAVDESS clips of held-out Actor_04, Actor_19")
