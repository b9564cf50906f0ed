"""What the fault, hostile-input, security and load tests share: a short speech-like test signal,
a webhook receiver that counts deliveries, a TCP proxy that makes storage slow (so a stage runs
long enough to be killed mid-way), and the real stack with workers that can be killed one by one.

Everything listens on 127.0.0.1 only, and every wait is bounded in time.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf

from tests.stackutil import RunningStack, start_stack

FAST_OPTIONS = {"engine": "passthrough", "upsampler": "resample", "preset": "podcast"}


# -- figures ----------------------------------------------------------------------------------
def record(name: str, figure: dict[str, Any]) -> None:
    """Print a figure (pytest -s shows it) and, when SPEAKUP_FIGURES_DIR is set, keep it as JSON
    there for benchmarks/reliability.py (a plain test run leaves the work tree untouched)."""
    print("FIGURE", name, json.dumps(figure, sort_keys=True))
    where = os.environ.get("SPEAKUP_FIGURES_DIR")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        Path(where, f"{name}.json").write_text(json.dumps(figure, indent=2, sort_keys=True))


# -- the signal -------------------------------------------------------------------------------
def speech_like(duration_s: float, rate_hz: int = 16_000, seed: int = 0) -> np.ndarray:
    """A voiced, syllable-modulated harmonic tone plus a little noise: loud enough to master."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    f0_hz = 120 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0_hz) / rate_hz
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12) if k * 260 < rate_hz / 2)
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t) ** 2
    audio = 0.2 * voiced * syllables + 0.005 * rng.standard_normal(len(t))
    return audio.astype(np.float32)


def wav_bytes(duration_s: float = 1.5, rate_hz: int = 16_000, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, speech_like(duration_s, rate_hz, seed), rate_hz, format="WAV",
             subtype="PCM_16")
    return buffer.getvalue()


# -- webhooks ---------------------------------------------------------------------------------
@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    received_at: float  # unix time, for verifying the signature's age as the receiver would


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 that records every POST (answers 204)."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        lock = threading.Lock()
        received = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
                body = self.rfile.read(length)
                with lock:
                    received.append(Delivery({k.lower(): v for k, v in self.headers.items()},
                                             body, time.time()))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def verified(self, secret: bytes, job_ids: set[str]) -> int:
        """How many deliveries for `job_ids` carry a valid signature (checked at receipt time)."""
        from shared.webhooks import verify

        return sum(verify(secret, d.headers.get("x-speakup-timestamp", ""), d.body,
                          d.headers.get("x-speakup-signature", ""), now=d.received_at)
                   for d in list(self.deliveries) if json.loads(d.body)["job"]["id"] in job_ids)

    def per_job(self) -> Counter[str]:
        """How many deliveries each job id received."""
        return Counter(json.loads(d.body)["job"]["id"] for d in list(self.deliveries))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- slow storage -----------------------------------------------------------------------------
class DelayProxy:
    """TCP proxy 127.0.0.1:port → upstream that holds each new request for `delay_s`.

    A request is 'new' when it opens a connection or when client bytes arrive after the server
    has answered on it (HTTP/1.1 without pipelining: a client sends its next request only once
    the last answer is in), so every S3 call through it costs `delay_s` more, however quickly
    the client follows one call with the next: a stage on a 1 s file then runs for seconds,
    long enough to be killed in the middle, without any test hook in the product. (An
    `Expect: 100-continue` upload is held twice: its body follows an interim answer.) The
    upstream connection is opened after the hold and again whenever the server closed an idle
    keep-alive connection meanwhile, so holds longer than the server's idle timeout work too.
    """

    def __init__(self, upstream_port: int, delay_s: float) -> None:
        self.upstream_port = upstream_port
        self.delay_s = delay_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        upstream_gone = threading.Event()
        answered = threading.Event()  # the server sent bytes since the client last did
        new_request = True
        try:
            while not self._closed.is_set():
                data = client.recv(65536)
                if not data:
                    break
                if new_request or answered.is_set():
                    answered.clear()
                    time.sleep(self.delay_s)
                new_request = False
                if upstream is None or upstream_gone.is_set():
                    upstream = socket.create_connection(("127.0.0.1", self.upstream_port), 5)
                    upstream.settimeout(None)
                    upstream_gone = threading.Event()
                    threading.Thread(target=self._back,
                                     args=(upstream, client, upstream_gone, answered),
                                     daemon=True).start()
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    _close(sock)

    @staticmethod
    def _back(upstream: socket.socket, client: socket.socket, gone: threading.Event,
              answered: threading.Event) -> None:
        """Answers back to the client; the client connection outlives a closed upstream."""
        try:
            while data := upstream.recv(65536):
                client.sendall(data)
                answered.set()
        except OSError:
            pass
        finally:
            gone.set()
            upstream.close()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


# -- processes --------------------------------------------------------------------------------
def children(pid: int) -> list[int]:
    """Direct child processes of `pid` (Celery's pool processes under its main process)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces or brackets: fields follow the last ')'
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a live process: its peak resident memory so far, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_until(check: Callable[[], Any], timeout_s: float, what: str,
               interval_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")


@dataclass
class FaultStack:
    """The real stack plus named workers that may reach storage through a DelayProxy."""

    running: RunningStack
    proxy: DelayProxy | None
    workdir: Path
    ready_files: dict[str, Path] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return self.running.api_url

    def add_worker(self, kind: str, name: str, *, slow_storage: bool = True,
                   ready_timeout_s: float = 120.0, env: dict[str, str] | None = None,
                   concurrency: int = 1, queues: str | None = None) -> int:
        """Start a Celery worker and wait until it consumes; returns its pid. `queues` replaces
        the kind's queue (e.g. a standby worker consuming nothing useful until told to)."""
        stack = self.running.stack
        saved = dict(stack.env)
        heartbeat = self.workdir / "hb" / f"{name}.alive"
        ready = heartbeat.with_name(heartbeat.name + ".ready")
        ready.unlink(missing_ok=True)
        stack.env["SPEAKUP_WORKER_HEARTBEAT_FILE"] = str(heartbeat)
        if slow_storage and self.proxy is not None:
            stack.env["SPEAKUP_S3_ENDPOINT_URL"] = self.proxy.url
        stack.env.update(env or {})
        try:
            proc = stack.start_worker(kind, name=name, concurrency=concurrency,
                                      extra=["-n", f"{name}@%h",
                                             *(["-Q", queues] if queues else [])])
        finally:
            stack.env.clear()
            stack.env.update(saved)
        self.ready_files[name] = ready
        wait_until(lambda: ready.exists() or proc.poll() is not None, ready_timeout_s,
                   f"worker {name} ready")
        if proc.poll() is not None:
            raise RuntimeError(f"worker {name} exited with {proc.returncode}")
        return proc.pid

    def pid(self, name: str) -> int:
        return self.running.stack.procs[name].pid

    def pool_child(self, name: str, timeout_s: float = 30.0) -> int:
        """The pid of the worker's (single) pool process, waiting while Celery replaces one."""
        main = self.pid(name)
        found: list[int] = wait_until(lambda: children(main), timeout_s, f"{name} pool process")
        return found[0]

    def kill_child(self, name: str) -> int:
        child = self.pool_child(name)
        os.kill(child, signal.SIGKILL)
        return child

    def alive(self, name: str) -> bool:
        proc = self.running.stack.procs.get(name)
        return proc is not None and proc.poll() is None

    def stop(self) -> None:
        self.running.stack.stop_all()
        if self.proxy is not None:
            self.proxy.close()


def start_fault_stack(workdir: Path, s3_endpoint: str, *, workers: dict[str, str],
                      proxy_delay_s: float | None = 0.4, extra_env: dict[str, str] | None = None,
                      beat: bool = True) -> FaultStack:
    """The stack with the api, cleanup worker and beat, plus `workers` (name → kind) whose
    storage traffic goes through a DelayProxy when `proxy_delay_s` is set."""
    env = {"SPEAKUP_WEBHOOK_ALLOW_PRIVATE": "true", "SPEAKUP_LOG_LEVEL": "INFO",
           **(extra_env or {})}
    running = start_stack(workdir, s3_endpoint, workers=("cleanup",), beat=beat, extra_env=env)
    proxy = None
    if proxy_delay_s is not None:
        proxy = DelayProxy(int(s3_endpoint.rsplit(":", 1)[1]), proxy_delay_s)
    stack = FaultStack(running, proxy, workdir)
    try:
        for name, kind in workers.items():
            stack.add_worker(kind, name)
    except BaseException:
        stack.stop()
        raise
    return stack


# -- jobs -------------------------------------------------------------------------------------
def create_job(client: httpx.Client, audio: bytes, options: dict[str, Any] | None = None,
               filename: str = "clip.wav", content_type: str = "audio/wav") -> dict[str, Any]:
    """The multipart one-shot route; returns {"id", "token", "status"}."""
    response = client.post("/v1/jobs", files={"file": (filename, audio, content_type)},
                           data={"options": json.dumps({**FAST_OPTIONS, **(options or {})})})
    assert response.status_code == 201, response.text
    return dict(response.json())


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def output_keys(storage: Any, job_id: str) -> list[str]:
    return [key for key, _ in storage.list_prefix(f"jobs/{job_id}/")
            if key.rsplit("/", 1)[1].startswith("output.")]


def states(job: Any) -> list[str]:
    return [state for state, _ in job.timeline]
