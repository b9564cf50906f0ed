"""evaluation/sr.py pieces: the cubic-spline baseline, scoring and the summary table."""

from __future__ import annotations

import numpy as np

from evaluation import sr


def test_cubic_spline_exact_length_and_passes_through_samples():
    audio = np.sin(2 * np.pi * 440 * np.arange(1601) / 16000).astype(np.float32)
    out = sr.cubic_spline(audio)
    assert len(out) == 4803
    np.testing.assert_allclose(out[::3], audio, atol=1e-6)  # interpolates, never moves samples


def test_score_and_summary_rank_a_better_estimate_higher():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 0.1, 48000).astype(np.float32)
    close, far = (
        reference + 0.01 * rng.normal(size=48000),
        reference + 0.05 * rng.normal(size=48000),
    )
    rows = [
        {"file": "a", "filter": "soxr", "engine": "resample", **sr.score(reference, far)},
        {"file": "a", "filter": "soxr", "engine": "unet", **sr.score(reference, close)},
    ]
    summary = sr.summarise(rows)
    assert summary["unet"]["all"]["snr_db"] > summary["resample"]["all"]["snr_db"] + 10
    assert summary["unet"]["soxr"]["lsd_db"] < summary["resample"]["soxr"]["lsd_db"]
    table = sr.markdown(
        {
            "summary": summary,
            "rtf": {"resample": 0.01, "unet": 0.1},
            "files": ["a"],
            "threads": 2,
            "machine": "test",
            "checkpoint": None,
        }
    )
    assert "| soxr | unet |" in table and "| all | resample |" in table
