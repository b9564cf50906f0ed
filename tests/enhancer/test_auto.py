"""`auto` chooses from the measured rows: the best installed engine that clears dsp's bar."""

from __future__ import annotations

import json

import pytest

from services.enhancer import engines
from services.enhancer.auto import (
    FALLBACKS,
    auto_engine_name,
    best_engine,
    read_scores,
    scores_path,
)

DSP = {"pesq_wb": 1.56, "si_sdr_improvement_db": 0.3, "dnsmos_ovrl_real": 2.78}
INSTALLED = ["passthrough", "dsp", "noisereduce", "rnnoise", "deepfilternet", "hifigan"]


def row(pesq_wb: float, si_sdr_improvement_db: float, dnsmos_ovrl_real: float, **extra):
    return {
        "pesq_wb": pesq_wb,
        "si_sdr_improvement_db": si_sdr_improvement_db,
        "dnsmos_ovrl_real": dnsmos_ovrl_real,
        "n_errors": 0,
        **extra,
    }


def write(tmp_path, engine_rows: dict) -> object:
    path = tmp_path / "enhancer_scores.json"
    path.write_text(json.dumps({"format_version": 1, "engines": engine_rows}))
    return path


def test_missing_or_unreadable_file_falls_back_to_dsp_then_passthrough(tmp_path):
    missing = tmp_path / "missing.json"
    assert auto_engine_name(INSTALLED, missing) == "dsp"
    assert auto_engine_name(["passthrough", "rnnoise"], missing) == "passthrough"
    with pytest.raises(LookupError):
        auto_engine_name([], missing)
    garbage = tmp_path / "garbage.json"
    for text in ("{not json", "[]", '{"engines": {"dsp": {"pesq_wb": "high"}}}'):
        garbage.write_text(text)
        assert read_scores(garbage) == {}
        assert auto_engine_name(INSTALLED, garbage) == "dsp"


def test_no_dsp_row_means_no_bar_and_no_choice(tmp_path):
    path = write(tmp_path, {"deepfilternet": row(3.0, 9.0, 3.2)})
    assert auto_engine_name(INSTALLED, path) == "dsp"


def test_baseline_wins_when_it_clears_the_bar(tmp_path):
    path = write(
        tmp_path,
        {
            "passthrough": row(1.46, 0.0, 2.62),
            "dsp": row(**DSP),
            "rnnoise": row(1.60, 0.5, 3.02),
            "hifigan": row(1.41, -1.0, 2.63),
        },
    )
    assert auto_engine_name(INSTALLED, path) == "rnnoise"


def test_bar_is_all_three_metrics(tmp_path):
    # better PESQ-WB and DNSMOS, worse SI-SDR improvement: not a candidate
    path = write(tmp_path, {"dsp": row(**DSP), "rnnoise": row(1.60, 0.2, 3.02)})
    assert auto_engine_name(INSTALLED, path) == "dsp"
    # equal is not better
    path = write(tmp_path, {"dsp": row(**DSP), "rnnoise": row(1.60, 0.3, 3.02)})
    assert auto_engine_name(INSTALLED, path) == "dsp"


def test_the_best_installed_wins_and_a_new_family_needs_no_code(tmp_path):
    rows = {
        "dsp": row(**DSP),
        "rnnoise": row(1.60, 0.5, 3.02),
        "deepfilternet": row(2.10, 4.0, 3.10),
        "erbnet": row(2.40, 5.0, 3.20),  # a family this module has never heard of
    }
    path = write(tmp_path, rows)
    assert auto_engine_name(INSTALLED + ["erbnet"], path) == "erbnet"
    assert auto_engine_name(INSTALLED, path) == "deepfilternet"  # erbnet not installed here
    assert auto_engine_name(["passthrough", "dsp", "rnnoise"], path) == "rnnoise"


def test_engine_with_errors_in_its_run_is_not_chosen(tmp_path):
    path = write(tmp_path, {"dsp": row(**DSP), "deepfilternet": row(2.10, 4.0, 3.10, n_errors=2)})
    assert "deepfilternet" not in read_scores(path)
    assert auto_engine_name(INSTALLED, path) == "dsp"


def test_missing_metric_or_null_is_not_a_candidate(tmp_path):
    incomplete = {"pesq_wb": 3.0, "si_sdr_improvement_db": 9.0}
    null_dnsmos = row(3.0, 9.0, 3.0) | {"dnsmos_ovrl_real": None}
    path = write(tmp_path, {"dsp": row(**DSP), "a": incomplete, "b": null_dnsmos})
    assert auto_engine_name(INSTALLED + ["a", "b"], path) == "dsp"


def test_mean_rank_then_pesq_breaks_ties():
    rows = {
        "dsp": DSP,
        "a": row(2.0, 5.0, 2.9),  # ranks 1, 1, 2 → 1.33
        "b": row(1.9, 4.0, 3.1),  # ranks 2, 2, 1 → 1.67
    }
    assert best_engine(rows, ["a", "b"]) == "a"
    rows = {"dsp": DSP, "a": row(2.0, 4.0, 2.9), "b": row(1.9, 5.0, 3.1)}  # 1.67 vs 1.33
    assert best_engine(rows, ["a", "b"]) == "b"
    rows = {"dsp": DSP, "a": row(2.0, 4.0, 3.0), "b": row(1.9, 5.0, 3.0)}  # 1.33 each
    assert best_engine(rows, ["a", "b"]) == "a"  # higher PESQ-WB


def test_resolve_reads_the_file_named_by_the_environment(tmp_path, monkeypatch):
    available = engines.names()
    winner = next((n for n in available if n not in FALLBACKS), None)
    if winner is None:
        pytest.skip("only the fallback engines are installed")
    path = write(tmp_path, {"dsp": row(**DSP), winner: row(2.0, 1.0, 3.0)})
    monkeypatch.setenv("SPEAKUP_ENHANCER_SCORES", str(path))
    assert engines.resolve("auto") == winner
    assert engines.get("auto").name == winner
    monkeypatch.setenv("SPEAKUP_ENHANCER_SCORES", str(tmp_path / "missing.json"))
    assert engines.resolve("auto") == "dsp"


def test_shipped_scores_follow_the_rule():
    """The committed file is readable and auto's pick here is the rule's, whatever it is."""
    if not scores_path().is_file():
        pytest.skip("no models/enhancer_scores.json recorded yet")
    rows = read_scores(scores_path())
    assert "dsp" in rows and "passthrough" in rows
    available = engines.names()
    expected = best_engine(rows, available) or next(n for n in FALLBACKS if n in available)
    assert auto_engine_name(available, scores_path()) == expected
