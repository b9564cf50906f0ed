"""`speakup serve` / `make run`: the embedded default — api, enhancer, upsampler, cleanup worker
and beat as local processes, a redis-server child with AOF, local-disk storage under var/."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

from speakup.stack import Stack


def serve(host_port: int = 8000, state_dir: Path = Path("var")) -> int:
    if shutil.which("redis-server") is None and "SPEAKUP_REDIS_URL" not in os.environ:
        print("redis-server not found: run `make run` (it installs it) or set SPEAKUP_REDIS_URL",
              file=sys.stderr)
        return 2
    env = dict(os.environ)
    base_url = env.setdefault("SPEAKUP_PUBLIC_BASE_URL", f"http://127.0.0.1:{host_port}")
    env.setdefault("SPEAKUP_STORAGE_BACKEND", "local")
    env.setdefault("SPEAKUP_LOCAL_STORAGE_DIR", str((state_dir / "storage").resolve()))
    if "SPEAKUP_SIGNING_SECRET" not in env:
        secret_file = state_dir / "signing-secret"
        state_dir.mkdir(parents=True, exist_ok=True)
        if not secret_file.exists():
            secret_file.write_text(os.urandom(32).hex())
            secret_file.chmod(0o600)
        env["SPEAKUP_SIGNING_SECRET"] = secret_file.read_text().strip()
    stack = Stack(env=env, log_dir=state_dir / "logs")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        if "SPEAKUP_REDIS_URL" not in os.environ:
            stack.start_redis(state_dir / "redis")
        for kind in ("enhancer", "upsampler", "cleanup"):
            env["SPEAKUP_WORKER_HEARTBEAT_FILE"] = str((state_dir / f"{kind}.heartbeat").resolve())
            stack.start_worker(kind)
        env.pop("SPEAKUP_WORKER_HEARTBEAT_FILE")
        stack.start_beat(state_dir)
        stack.start_api(host_port)
        print(f"SpeakUp is running at {base_url}  (logs in {state_dir / 'logs'}; Ctrl-C stops)",
              flush=True)
        while not stopping:
            for name, proc in list(stack.procs.items()):
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; stopping", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    finally:
        print("stopping…", flush=True)
        stack.stop_all()
    return 0
