"""`speakup enhance` (in-process): a folder of recordings → results, the summary table, the
JSON summary, the PNG report, output naming, and the exit codes scripts rely on. The fast
engines (passthrough + resample) keep it to seconds; the measured answer is the delivered audio
(rate, format, loudness at the preset's target, the tone kept)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speakup.cli import main
from speakup.cli_common import Exit, plan_outputs
from tests.media import av_encode, soundfile_bytes, tone

REPO = Path(__file__).resolve().parents[2]
FAST = ["--engine", "passthrough", "--upsampler", "resample"]


def _tone(seconds: float, rate_hz: int, hz: float = 1000.0) -> np.ndarray:
    return tone(hz, seconds, rate_hz, 1, 0.2)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    (d / "memo.m4a").write_bytes(av_encode("ipod", "aac", [_tone(2.0, 44100)], 44100))
    (d / "call.wav").write_bytes(soundfile_bytes(_tone(1.5, 8000, 700.0), 8000, "WAV", "PCM_16"))
    (d / "take.ogg").write_bytes(soundfile_bytes(_tone(1.0, 48000), 48000, "OGG", "VORBIS"))
    (d / "notes.txt").write_text("not a recording, and not picked up")
    return d


def test_a_folder_to_a_folder_with_table_and_report(folder: Path, tmp_path: Path, capsys):
    out, report = tmp_path / "out", tmp_path / "report.png"
    code = main(["enhance", str(folder), "-o", str(out), "--preset", "broadcast",
                 "--sample-rate", "44100", "--report", str(report), "-q", *FAST])
    assert code == Exit.OK
    produced = sorted(p.name for p in out.iterdir())
    assert produced == ["call.wav", "memo.wav", "take.wav"]
    for name, seconds in (("call.wav", 1.5), ("memo.wav", 2.0), ("take.wav", 1.0)):
        audio, rate = sf.read(str(out / name), dtype="float32")
        assert rate == 44100 and len(audio) / rate == pytest.approx(seconds, abs=0.07)
        assert sf.info(str(out / name)).subtype == "PCM_24"
    table = capsys.readouterr().out
    for needle in ("memo.m4a", "call.wav", "take.ogg", "LUFS in → out", "3/3 done",
                   "passthrough + resample"):
        assert needle in table, table
    outs = [float(x) for x in re.findall(r"→ (-\d+\.\d)", table)]  # LUFS (DNSMOS: positive)
    assert len(outs) == 3 and all(abs(x + 23.0) <= 0.5 for x in outs), table  # broadcast
    with report.open("rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    width, height = _png_size(report)
    assert width == 1200 and height == pytest.approx(3 * 460, abs=10)  # one block per file


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_one_file_to_a_flac_path_and_json_summary(folder: Path, tmp_path: Path, capsys):
    dst = tmp_path / "memo-clean.flac"
    code = main(["enhance", str(folder / "memo.m4a"), "-o", str(dst), "--json", "-q",
                 "--bit-depth", "16", *FAST])
    assert code == Exit.OK
    info = sf.info(str(dst))
    assert (info.format, info.subtype, info.samplerate) == ("FLAC", "PCM_16", 48000)
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    assert rows[0]["metrics"]["output_lufs"] == pytest.approx(-16.0, abs=0.5)
    assert rows[0]["engine"]["enhancer"] == "passthrough"


def test_without_output_results_land_beside_inputs(folder: Path):
    assert main(["enhance", str(folder / "call.wav"), "-q", *FAST]) == Exit.OK
    assert (folder / "call.enhanced.wav").is_file()
    # and a second run over the folder does not take its own results as inputs
    from speakup.cli_common import find_recordings

    assert folder / "call.enhanced.wav" not in find_recordings([folder])


def test_a_rejected_input_is_exit_3_and_the_others_still_done(folder: Path, tmp_path: Path,
                                                               capsys):
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEnot really" * 20)
    out = tmp_path / "out"
    code = main(["enhance", str(folder), "-o", str(out), "-q", *FAST])
    assert code == Exit.REJECTED
    assert sorted(p.name for p in out.iterdir()) == ["call.wav", "memo.wav", "take.wav"]
    table = capsys.readouterr().out
    assert "rejected" in table and "3/4 done" in table


@pytest.mark.parametrize("argv", [
    ["enhance", "does-not-exist.wav"],
    ["enhance", "{folder}/memo.m4a", "--engine", "no-such-engine"],
    ["enhance", "{folder}/memo.m4a", "--strength", "1.5"],
    ["enhance", "{folder}/memo.m4a", "--sample-rate", "22050"],
])
def test_usage_errors_are_exit_2(folder: Path, argv: list[str], capsys):
    argv = [a.replace("{folder}", str(folder)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    assert code == Exit.USAGE
    assert "Traceback" not in capsys.readouterr().err


def test_output_names_never_collide(tmp_path: Path):
    inputs = [tmp_path / "talk.m4a", tmp_path / "talk.wav", tmp_path / "intro.mp3"]
    plans = plan_outputs(inputs, tmp_path, "wav")
    names = [p.name for p, _ in plans]
    assert len(set(names)) == 3 and all(p not in inputs for p, _ in plans)
    assert plan_outputs([tmp_path / "a.m4a"], tmp_path / "x.flac", None) == [
        (tmp_path / "x.flac", "flac")]


def test_help_reads_like_a_manual_page():
    top = subprocess.run([sys.executable, "-m", "speakup", "--help"], capture_output=True,
                         text=True, cwd=REPO, timeout=60)
    assert top.returncode == 0
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS", "ENVIRONMENT",
                    "EXAMPLES"):
        assert f"\n{section}\n" in top.stdout, section
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130"):
        assert f"\n  {code}" in top.stdout
    for command, words in (("enhance", "examples:"), ("submit", "resumes")):
        page = subprocess.run([sys.executable, "-m", "speakup", command, "--help"],
                              capture_output=True, text=True, cwd=REPO, timeout=60)
        assert page.returncode == 0 and words in page.stdout


def test_eval_hands_its_arguments_to_the_harness(monkeypatch):
    import evaluation.cli

    seen: list[list[str]] = []
    monkeypatch.setattr(evaluation.cli, "main", lambda argv: seen.append(argv) or 0)
    assert main(["eval", "--engines", "dsp", "--help"]) == 0
    assert seen == [["--engines", "dsp", "--help"]]


@pytest.mark.parametrize("engine_flag", ["--engine", "--upsampler"])
def test_an_unknown_engine_writes_nothing_even_after_decoding(folder: Path, tmp_path: Path,
                                                             engine_flag: str):
    """The engines load while the first input decodes: a wrong name still ends in exit 2 with
    no output — also when the only input is rejected before any engine would run."""
    out = tmp_path / "out"
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEnot really" * 20)
    for inputs in ([folder / "memo.m4a", folder / "call.wav"], [folder / "broken.wav"]):
        code = main(["enhance", *map(str, inputs), "-o", str(out), "-q", engine_flag, "nope"])
        assert code == Exit.USAGE
        assert not out.exists() or not any(out.iterdir())


def test_progress_moves_while_decoding(tmp_path: Path):
    """The first progress comes before any engine loads, and decoding reports its share."""
    from speakup.pipeline import ChainOptions, enhance_file

    src = tmp_path / "long.m4a"
    src.write_bytes(av_encode("ipod", "aac", [_tone(40.0, 48000)], 48000))
    seen: list[tuple[str, float]] = []
    enhance_file(src, tmp_path / "out.wav", ChainOptions(engine="passthrough",
                                                         upsampler="resample"),
                 progress=lambda stage, f: seen.append((stage, f)))
    assert seen[0] == ("decode", 0.0)
    decode = [f for stage, f in seen if stage == "decode"]
    assert len(decode) >= 5 and decode == sorted(decode) and 0.0 < decode[-2] < 1.0
    assert [stage for stage, _ in seen].index("enhance") > len(decode) - 1


IMPORTS_WHILE_DECODING = """
import sys, tempfile
from pathlib import Path
from speakup.cli_enhance import import_decoding_side
import_decoding_side()
before = set(sys.modules)
from shared.audio.decode import AudioRejected
from speakup.pipeline import ChainOptions, enhance_file

class Ready(Exception):
    pass

def ready():
    print(sorted(set(sys.modules) - before))
    raise Ready

try:
    enhance_file(Path(sys.argv[1]), Path(tempfile.mkdtemp()) / "out.wav", ChainOptions(),
                 ready=ready)
except Ready:
    pass
"""


def test_the_main_thread_imports_nothing_while_the_engines_load(tmp_path: Path) -> None:
    # the engines import torch and TensorFlow on a second thread while the first input decodes;
    # two threads importing one package at once failed in CI (KeyError: 'scipy'), so decoding
    # must only use modules imported before that thread starts
    src = tmp_path / "in.m4a"
    src.write_bytes(av_encode("ipod", "aac", [_tone(2.0, 44_100)], 44_100))
    done = subprocess.run([sys.executable, "-c", IMPORTS_WHILE_DECODING, str(src)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout
