"""Real servers on 127.0.0.1 for tests: a Redis server and an S3-compatible server (ministack).

Functions (usable from benchmarks and fault tests, which stop and restart servers):
    start_redis_server(tmp_dir, appendonly=False, port=None) -> (url, stop)
    start_s3_server(tmp_dir, persist=False, port=None) -> (endpoint_url, stop)
Session fixtures (load with ``pytest_plugins = ["tests.servers"]`` in tests/conftest.py):
    redis_server -> "redis://127.0.0.1:<port>/0",  s3_server -> "http://127.0.0.1:<port>"

Why ministack: of the S3-compatible servers installable here it is the only one that enforces
presigned signatures, expiry and POST content-length-range (../shared/notes/s3-and-redis.md).
It pins its own botocore, so it lives in its own virtualenv: ``.venv-s3`` at the repo root
(``python3 -m venv .venv-s3 && .venv-s3/bin/pip install ministack``), or set SPEAKUP_MINISTACK
to its executable. Credentials test/test, region us-east-1. Missing binaries skip the fixtures.

Servers stop with their ``stop()``, at exit, and — on Linux — when the thread that started them
dies (PR_SET_PDEATHSIG), so a SIGKILLed test run leaves none behind. Start them from a thread
that lives as long as they should (the main thread, as fixtures do).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
S3_ACCESS_KEY = "test"
S3_SECRET_KEY = "test"
S3_REGION = "us-east-1"
STARTUP_TIMEOUT_S = 30.0

Stop = Callable[[], None]


class ServerUnavailable(RuntimeError):
    """The server binary is not installed, or the server did not come up."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, even by SIGKILL (where atexit
    never runs), so no server outlives its test run. Linux only; elsewhere atexit must do."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _spawn(argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> Stop:
    """Start a child process (own session, output to ``log_path``); return an idempotent stop."""
    log = open(log_path, "ab")  # noqa: SIM115 (closed by stop)
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()

    stop.process = proc  # type: ignore[attr-defined]  # fault tests may SIGKILL it
    atexit.register(stop)
    return stop


def _wait_until(ready: Callable[[], bool], stop: Stop, what: str, log_path: Path) -> None:
    proc: subprocess.Popen[bytes] = stop.process  # type: ignore[attr-defined]
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop()
            raise ServerUnavailable(f"{what} exited with {proc.returncode}:\n{_tail(log_path)}")
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.05)
    stop()
    raise ServerUnavailable(f"{what} not ready after {STARTUP_TIMEOUT_S} s:\n{_tail(log_path)}")


# -- Redis -------------------------------------------------------------------------------------
def redis_binary() -> str | None:
    return shutil.which("redis-server")


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def start_redis_server(
    tmp_dir: Path | str, appendonly: bool = False, port: int | None = None
) -> tuple[str, Stop]:
    """A redis-server child process on 127.0.0.1. Pass the same ``tmp_dir``, ``port`` and
    ``appendonly=True`` to restart one and find its data again (AOF in ``tmp_dir``)."""
    binary = redis_binary()
    if binary is None:
        raise ServerUnavailable("redis-server not installed (apt-get install -y redis-server)")
    data_dir = Path(tmp_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--daemonize",
        "no",
        "--save",
        "",
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes" if appendonly else "no",
        "--protected-mode",
        "yes",
        "--logfile",
        "",
    ]
    log_path = data_dir / f"redis-{port}.log"
    stop = _spawn(argv, log_path)
    _wait_until(lambda: _redis_ping(port), stop, "redis-server", log_path)
    return f"redis://127.0.0.1:{port}/0", stop


# -- S3 (ministack) ------------------------------------------------------------------------------
def ministack_binary() -> str | None:
    candidates = [
        os.environ.get("SPEAKUP_MINISTACK"),
        str(REPO_ROOT / ".venv-s3/bin/ministack"),
        shutil.which("ministack"),
    ]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def _s3_healthy(endpoint_url: str) -> bool:
    with urllib.request.urlopen(f"{endpoint_url}/_ministack/health", timeout=1) as answer:
        return bool(answer.status == 200)


def start_s3_server(
    tmp_dir: Path | str, persist: bool = False, port: int | None = None
) -> tuple[str, Stop]:
    """A ministack child process on 127.0.0.1 (S3 with enforced presigned conditions).

    ``persist=True`` keeps objects in ``tmp_dir`` so that stopping and restarting on the same
    ``port`` (an outage test) finds them again."""
    binary = ministack_binary()
    if binary is None:
        raise ServerUnavailable(
            "ministack not installed: "
            "python3 -m venv .venv-s3 && .venv-s3/bin/pip install ministack"
        )
    data_dir = Path(tmp_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(data_dir)),
        "TMPDIR": str(data_dir),
        "BIND_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "MINISTACK_REGION": S3_REGION,
        "S3_DATA_DIR": str(data_dir / "s3"),
        "STATE_DIR": str(data_dir / "state"),
    }
    if persist:
        env.update({"S3_PERSIST": "1", "PERSIST_STATE": "1"})
    endpoint_url = f"http://127.0.0.1:{port}"
    log_path = data_dir / f"ministack-{port}.log"
    stop = _spawn([binary], log_path, env)
    _wait_until(lambda: _s3_healthy(endpoint_url), stop, "ministack", log_path)
    return endpoint_url, stop


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        url, stop = start_redis_server(tmp_path_factory.mktemp("redis"))
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    yield url
    stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        endpoint_url, stop = start_s3_server(tmp_path_factory.mktemp("s3"))
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    yield endpoint_url
    stop()
