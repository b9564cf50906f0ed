"""A worker process killed mid-stage leaves its temp directory (the user's audio) behind; the
next pool process erases it (shared.stages.private_tmpdir), and never a live process's."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from shared.stages import private_tmpdir


def test_private_tmpdir_erases_dead_processes_roots_only(tmp_path, monkeypatch):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        dead_root = tmp_path / f"speakup-proc-{gone.pid}"
        live_root = tmp_path / f"speakup-proc-{alive.pid}"
        for root in (dead_root, live_root):
            (root / "speakup-enh-x").mkdir(parents=True)
            (root / "speakup-enh-x" / "input").write_bytes(b"RIFF" + b"\0" * 1000)
        monkeypatch.setattr(tempfile, "tempdir", None)
        mine = private_tmpdir(str(tmp_path))
        assert not dead_root.exists()
        assert (live_root / "speakup-enh-x" / "input").exists()
        assert mine == tmp_path / f"speakup-proc-{os.getpid()}" and mine.is_dir()
        with tempfile.TemporaryDirectory(prefix="speakup-enh-") as work:
            assert work.startswith(str(mine))
    finally:
        alive.kill()
        alive.wait()
