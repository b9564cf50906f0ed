"""`speakup enhance` picks the format by the output's suffix: each one SpeakUp writes decodes as
its codec (checked with FFmpeg here), a video keeps its picture, the quality report is in
--json — and a suffix it cannot honour is a usage error (status 2) that writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from speakup.cli import main
from speakup.cli_common import Exit
from tests.media import av_encode
from tests.shared.test_video import make_video, video_packets
from tests.upsampler.test_output_formats import decode, speech_like, true_peak_dbtp

FAST = ["--engine", "passthrough", "--upsampler", "resample", "-q"]
DECODERS = {"wav": "pcm_s24le", "flac": "flac", "mp3": "mp3float", "m4a": "aac", "opus": "opus"}


@pytest.fixture()
def memo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    noisy = speech_like(6.0, 16000, seed=7) + 0.02 * rng.standard_normal(6 * 16000)
    path = tmp_path / "memo.m4a"
    path.write_bytes(av_encode("ipod", "aac", [noisy.astype(np.float32)[:, None]], 16000))
    return path


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out


@pytest.mark.parametrize("suffix", list(DECODERS))
def test_the_suffix_picks_the_codec_and_json_has_the_quality_report(memo, tmp_path, capsys,
                                                                     suffix):
    dst = tmp_path / f"memo-clean.{suffix}"
    code, out = _run(["enhance", str(memo), "-o", str(dst), "--json", "--title", "Memo",
                      *FAST], capsys)
    assert code == Exit.OK
    audio, _, decoder, _, tags = decode(dst)
    assert decoder == DECODERS[suffix] and tags.get("title") == "Memo"
    assert true_peak_dbtp(audio) <= -1.0
    metrics = json.loads(out)[0]["metrics"]
    for side in ("in", "out"):
        for name in ("sig", "bak", "ovrl"):
            assert 1.0 <= metrics[f"dnsmos_{name}_{side}"] <= 5.0
    assert metrics["output_format"] == suffix and metrics["output_true_peak_dbtp"] <= -1.0
    assert metrics["bandwidth_in_hz"] <= 8000


@pytest.mark.parametrize(("name", "extra"), [
    ("memo.xyz", []),
    ("memo.aac", []),  # raw ADTS: SpeakUp writes AAC in .m4a
    ("memo.ogg", []),  # Ogg Opus is written as .opus
    ("memo.wav", ["--format", "mp3"]),  # the name and the format disagree
    ("memo.mp4", []),  # a video container, and the memo has no video
])
def test_a_suffix_that_cannot_be_honoured_is_exit_2_and_writes_nothing(memo, tmp_path, capsys,
                                                                       name, extra):
    code, _ = _run(["enhance", str(memo), "-o", str(tmp_path / name), *extra, *FAST], capsys)
    assert code == Exit.USAGE
    assert not (tmp_path / name).exists()


def test_a_video_comes_back_as_a_video_with_its_picture_untouched(tmp_path, capsys):
    src = tmp_path / "vlog.mp4"
    make_video(src, "mp4", "libx264", "aac")
    dst = tmp_path / "vlog-clean.mp4"
    code, _ = _run(["enhance", str(src), "-o", str(dst), "--preset", "video", *FAST], capsys)
    assert code == Exit.OK
    assert video_packets(dst) == video_packets(src)
    code, _ = _run(["enhance", str(src), "-o", str(tmp_path / "vlog.webm"), *FAST], capsys)
    assert code == Exit.USAGE  # H.264 cannot go into WebM unchanged


def test_format_video_keeps_each_inputs_own_container(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    make_video(folder / "a.mp4", "mp4", "libx264", "aac", seconds=1.0)
    make_video(folder / "b.webm", "webm", "libvpx-vp9", "libopus", seconds=1.0)
    out = tmp_path / "out"
    code, _ = _run(["enhance", str(folder), "-o", str(out), "--format", "video", *FAST], capsys)
    assert code == Exit.OK
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.webm"]
    assert video_packets(out / "b.webm") == video_packets(folder / "b.webm")
