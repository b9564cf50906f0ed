"""Start SpeakUp's processes on one machine: the api, each worker and beat, as child processes.

Used by `speakup serve` (the embedded default behind `make run`) and by the integration tests, so
the tests run exactly what a person runs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

WORKERS = {
    "enhancer": ["-A", "services.enhancer.worker", "worker", "-Q", "enhance", "-n", "enhancer@%h"],
    "upsampler": ["-A", "services.upsampler.worker", "worker", "-Q", "upsample",
                  "-n", "upsampler@%h"],
    "cleanup": ["-A", "services.cleanup.worker", "worker", "-Q", "cleanup", "-n", "cleanup@%h"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not come up within {timeout_s:.0f} s")


@dataclass
class Stack:
    """A set of child processes sharing one environment (SPEAKUP_* settings)."""

    env: dict[str, str]
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_redis(self, data_dir: Path, port: int | None = None, appendonly: bool = True) -> str:
        port = port or free_port()
        data_dir.mkdir(parents=True, exist_ok=True)
        self._spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--dir", str(data_dir), "--save", "",
                              "--appendonly", "yes" if appendonly else "no",
                              "--maxmemory-policy", "noeviction"])
        url = f"redis://127.0.0.1:{port}/0"
        import redis

        wait_for(lambda: redis.Redis.from_url(url).ping(), 15, "redis-server")
        self.env["SPEAKUP_REDIS_URL"] = url
        return url

    def start_api(self, port: int) -> str:
        self._spawn("api", [sys.executable, "-m", "uvicorn", "services.api.app:make_app",
                            "--factory", "--host", "127.0.0.1", "--port", str(port),
                            "--no-access-log", "--timeout-graceful-shutdown", "5"])
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(url + "/healthz", timeout=1).status_code == 200, 60, "api")
        return url

    def start_worker(self, kind: str, *, concurrency: int = 1, name: str | None = None,
                     extra: list[str] | None = None) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "celery", *WORKERS[kind], "--concurrency", str(concurrency),
                "--prefetch-multiplier", "1", "--without-gossip", "--without-mingle",
                "--loglevel", "INFO", *(extra or [])]
        return self._spawn(name or kind, argv)

    def start_beat(self, state_dir: Path) -> subprocess.Popen[bytes]:
        state_dir.mkdir(parents=True, exist_ok=True)
        return self._spawn("beat", [sys.executable, "-m", "celery", "-A",
                                    "services.cleanup.worker", "beat", "--schedule",
                                    str(state_dir / "beat-schedule"), "--loglevel", "INFO"])

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def stop_all(self) -> None:
        # workers and api first, Redis last, so nothing loses its broker while shutting down
        for name in [n for n in self.procs if n != "redis"] + ["redis"]:
            self.stop(name)
