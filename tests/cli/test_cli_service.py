"""The Python client and `speakup submit` against the real stack (redis-server, S3 through
ministack, the api, enhancer and upsampler workers): the whole REST flow with a deletion
receipt, the one-shot multipart route, a folder in bounded concurrency with a rejected file,
and a second run that resumes from the state file instead of starting again."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speakup.cli import main
from speakup.cli_common import Exit
from speakup.client import JobFailed, JobHandle, SpeakUpClient
from tests.media import av_encode, soundfile_bytes, tone
from tests.stackutil import start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
FAST = {"engine": "passthrough", "upsampler": "resample"}
FAST_FLAGS = ["--engine", "passthrough", "--upsampler", "resample"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server):
    running = start_stack(tmp_path_factory.mktemp("cli"), s3_server,
                          workers=("enhancer", "upsampler"), beat=False)
    yield running
    running.stack.stop_all()


def _speechlike(seconds: float, rate_hz: int) -> np.ndarray:
    """A 1 kHz tone gated like syllables (4 Hz), with a little noise: [samples, 1]."""
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    gate = (np.sin(2 * np.pi * 4 * t) > 0).astype(np.float32)
    noise = np.random.default_rng(1).normal(0, 0.01, len(t)).astype(np.float32)
    return (tone(1000, seconds, rate_hz, 1, 0.3)[:, 0] * gate + noise)[:, None]


def test_client_flow_create_upload_wait_download_delete(stack, tmp_path: Path):
    src = tmp_path / "memo.m4a"
    src.write_bytes(av_encode("ipod", "aac", [_speechlike(3.0, 44100)], 44100))
    updates: list[str] = []
    with SpeakUpClient(stack.api_url) as api:
        state = api.enhance(src, tmp_path / "memo.flac",
                            {**FAST, "preset": "video", "format": "flac", "sample_rate_hz": 44100},
                            on_update=lambda s: updates.append(s.status))
    assert updates[-1] == "succeeded" and updates[0] in ("queued", "enhancing", "upsampling")
    info = sf.info(str(tmp_path / "memo.flac"))
    assert (info.format, info.samplerate) == ("FLAC", 44100)
    assert info.duration == pytest.approx(3.0, abs=0.07)
    assert state.metrics["output_lufs"] == pytest.approx(-14.0, abs=0.5)
    assert state.status == "purged" and state.deletion["verified_empty"] is True
    assert stack.storage().list_prefix(f"jobs/{state.raw['id']}/") == []


def test_client_multipart_one_shot_and_a_rejected_input(stack, tmp_path: Path):
    good, bad = tmp_path / "call.wav", tmp_path / "notes.wav"
    good.write_bytes(soundfile_bytes(_speechlike(2.0, 8000), 8000, "WAV", "PCM_16"))
    bad.write_bytes(b"this is a shopping list, not audio\n" * 50)
    with SpeakUpClient(stack.api_url) as api:
        job = api.create_multipart(good, {**FAST, "sample_rate_hz": 48000})
        assert job.status == "queued"
        done = api.wait(job, timeout_s=120)
        path = api.download(job, tmp_path / "call.out.wav")
        assert sf.info(str(path)).samplerate == 48000
        api.delete(job)
        rejected = api.create_multipart(bad, FAST)
        with pytest.raises(JobFailed) as info:
            api.wait(rejected, timeout_s=120)
    assert done.engine["enhancer"] == "passthrough"
    assert info.value.code == "not_audio" and "not an audio" in info.value.message


def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "episodes"
    d.mkdir()
    (d / "ep1.m4a").write_bytes(av_encode("ipod", "aac", [_speechlike(2.0, 44100)], 44100))
    (d / "ep2.mp3").write_bytes(av_encode("mp3", "libmp3lame", [_speechlike(2.5, 44100)], 44100))
    (d / "ep3.wav").write_bytes(soundfile_bytes(_speechlike(1.5, 16000), 16000, "WAV", "PCM_16"))
    (d / "broken.ogg").write_bytes(b"OggS" + b"\x00" * 500)
    return d


def test_submit_a_folder_then_a_second_run_skips_what_is_done(stack, tmp_path: Path, capsys):
    d = _folder(tmp_path)
    argv = ["submit", str(d), "--api", stack.api_url, "-j", "2", "-q", "--preset", "broadcast",
            *FAST_FLAGS]
    assert main(argv) == Exit.REJECTED  # three done, one rejected
    for name, seconds in (("ep1", 2.0), ("ep2", 2.5), ("ep3", 1.5)):
        audio, rate = sf.read(str(d / f"{name}.enhanced.wav"), dtype="float32")
        assert rate == 48000 and len(audio) / rate == pytest.approx(seconds, abs=0.07)
    assert not (d / "broken.enhanced.wav").exists()
    first = capsys.readouterr().out
    assert "3 done, 1 rejected, 0 failed" in first and "broken.ogg" in first

    state_path = d / ".speakup-submit.json"
    assert stat.S_IMODE(state_path.stat().st_mode) == 0o600  # it holds job tokens
    state = json.loads(state_path.read_text())["entries"]
    assert {k: v["phase"] for k, v in state.items()} == {
        "broken.ogg": "rejected", "ep1.m4a": "done", "ep2.mp3": "done", "ep3.wav": "done"}
    assert all(abs(v["metrics"]["output_lufs"] + 23.0) <= 0.5 for v in state.values()
               if v["phase"] == "done")
    assert all(v["deletion"]["verified_empty"] for v in state.values() if v["phase"] == "done")
    mtimes = {p.name: p.stat().st_mtime_ns for p in d.glob("*.enhanced.wav")}

    assert main(argv) == Exit.REJECTED  # nothing left to do: nothing is sent again
    again = json.loads(state_path.read_text())["entries"]
    assert {k: v["job_id"] for k, v in again.items()} == {k: v["job_id"] for k, v in
                                                           state.items()}
    assert {p.name: p.stat().st_mtime_ns for p in d.glob("*.enhanced.wav")} == mtimes
    assert "skipped" in capsys.readouterr().err


def test_submit_resumes_a_job_left_on_the_server(stack, tmp_path: Path):
    """A run stopped after submitting: the next run waits for that job, not a new one."""
    d = tmp_path / "one"
    d.mkdir()
    src = d / "interview.wav"
    src.write_bytes(soundfile_bytes(_speechlike(2.0, 16000), 16000, "WAV", "PCM_16"))
    argv = ["submit", str(d), "--api", stack.api_url, "-q", *FAST_FLAGS]
    from speakup import submit
    from speakup.cli import build_parser
    from speakup.cli_common import job_options
    from speakup.submit_state import StateFile

    options = job_options(build_parser().parse_args(argv), "wav")
    with SpeakUpClient(stack.api_url) as api:
        job = api.create(src, options)
        api.upload(job, src)
        api.submit(job)
    state = StateFile(d / submit.STATE_NAME, api_url=stack.api_url)
    entry = state.entry_for(d, src, submit.options_key(options), retry_failed=False)
    entry.phase, entry.job_id, entry.token = "submitted", job.id, job.token
    state.put(entry)

    assert main(argv) == Exit.OK
    saved = json.loads((d / submit.STATE_NAME).read_text())["entries"]["interview.wav"]
    assert saved["job_id"] == job.id and saved["phase"] == "done"
    assert sf.info(str(d / "interview.enhanced.wav")).samplerate == 48000
    with SpeakUpClient(stack.api_url) as api:
        assert api.status(JobHandle(job.id, job.token)).status == "purged"


def test_submit_to_a_service_that_is_not_there_is_exit_4(tmp_path: Path):
    d = _folder(tmp_path)
    code = main(["submit", str(d), "--api", "http://127.0.0.1:9", "--retries", "0", "-q"])
    assert code == Exit.UNREACHABLE
