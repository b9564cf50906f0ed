"""The scores file: written from one run's results, read back by the enhancer's `auto`."""

from __future__ import annotations

import json

import pytest

from evaluation import scores
from services.enhancer.auto import auto_engine_name, read_scores


def fake_results() -> dict:
    """Two engines, two paired items and one real recording each."""
    per_engine = {  # pesq on the paired items, si-sdr improvement, dnsmos on paired, on real
        "noisy": ([1.5, 1.7], [0.0, 0.0], [2.0, 2.2], 2.6),
        "dsp": ([1.6, 1.8], [0.5, 1.5], [2.1, 2.3], 2.8),
        "newnet": ([2.0, 2.2], [3.0, 5.0], [1.0, 1.0], 3.1),
    }
    registry = {"noisy": "passthrough", "dsp": "dsp", "newnet": "newnet"}
    files = []
    for engine, (pesq, si_sdri, dnsmos_paired, dnsmos_real) in per_engine.items():
        for index in range(2):
            metrics = {
                "pesq_wb": pesq[index],
                "si_sdr_improvement": si_sdri[index],
                "dnsmos_ovrl": dnsmos_paired[index],
            }
            files.append(
                {
                    "engine": engine,
                    "item": f"g/{index}",
                    "set": "generated",
                    "metrics": metrics,
                    "error": None,
                }
            )
        files.append(
            {
                "engine": engine,
                "item": "real/r",
                "set": "real",
                "metrics": {"dnsmos_ovrl": dnsmos_real},
                "error": None,
            }
        )
    return {
        "meta": {
            "engines": {e: {"registry_name": registry[e], "version": "1"} for e in per_engine},
            "git": {"commit": "abc123", "uncommitted": []},
            "started_at": "2026-12-07T06:00:00",
            "command": "python -m evaluation --record-scores",
            "set_notes": {"generated": "held-out", "real": "no reference"},
        },
        "engines": {e: {"rtf": 0.1} for e in per_engine},
        "files": files,
    }


def test_rows_are_keyed_by_registry_name_with_the_three_means():
    recorded = scores.scores_from_results(fake_results())
    assert recorded["run"]["commit"] == "abc123"
    assert recorded["run"]["command"] == "python -m evaluation --record-scores"
    assert set(recorded["engines"]) == {"passthrough", "dsp", "newnet"}
    dsp = recorded["engines"]["dsp"]
    assert dsp["pesq_wb"] == pytest.approx(1.7)
    assert dsp["si_sdr_improvement_db"] == pytest.approx(1.0)
    assert dsp["dnsmos_ovrl_real"] == pytest.approx(2.8)  # the real recording only
    assert (dsp["n_paired"], dsp["n_real"], dsp["n_errors"]) == (2, 1, 0)


def test_written_file_is_what_auto_reads(tmp_path):
    path = scores.write(scores.scores_from_results(fake_results()), tmp_path / "s.json")
    assert json.loads(path.read_text())["format_version"] == scores.FORMAT_VERSION
    assert not list(tmp_path.glob("*.partial"))
    assert set(read_scores(path)) == {"passthrough", "dsp", "newnet"}
    assert auto_engine_name(["passthrough", "dsp", "newnet"], path) == "newnet"
    assert auto_engine_name(["passthrough", "dsp"], path) == "dsp"


def test_a_run_without_real_recordings_records_no_dnsmos_and_chooses_nothing(tmp_path):
    results = fake_results()
    results["files"] = [r for r in results["files"] if r["set"] != "real"]
    recorded = scores.scores_from_results(results)
    assert recorded["engines"]["newnet"]["dnsmos_ovrl_real"] is None
    path = scores.write(recorded, tmp_path / "s.json")
    assert auto_engine_name(["passthrough", "dsp", "newnet"], path) == "dsp"


def test_quick_runs_and_runs_without_the_bar_are_refused():
    scores.check_recordable(["passthrough", "dsp"], None)
    with pytest.raises(SystemExit, match="--limit"):
        scores.check_recordable(["passthrough", "dsp"], 3)
    with pytest.raises(SystemExit, match="dsp"):
        scores.check_recordable(["passthrough", "rnnoise"], None)
