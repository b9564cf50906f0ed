"""A lean HTTP/1.1 load generator on asyncio streams (keep-alive connections, no client library
in the hot path), so that on a 2-core machine the client costs the server little CPU.

Two modes:
- closed loop (`rate_per_s=None`): every connection sends its next request when the previous
  answer arrives — the server's saturation throughput, and latency at that load;
- open loop (`rate_per_s` set): request i is due at t0 + i / rate, whether or not the server
  kept up; latency counts from when it was due (no coordinated omission, as in wrk2).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

MakeRequest = Callable[[int], bytes]


@dataclass
class LoadResult:
    name: str
    duration_s: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0  # connection errors and 5xx
    missed: int = 0  # open loop: requests due within the run that could not even be sent
    server_cpu_s: float | None = None
    server_cpu_split: list[float] = field(default_factory=list)  # share of each server process
    method_latencies_ms: dict[str, list[float]] = field(default_factory=dict)  # by HTTP method

    def summary(self) -> dict[str, object]:
        lat = np.asarray(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        done = len(self.latencies_ms)
        out: dict[str, object] = {
            "scenario": self.name, "duration_s": round(self.duration_s, 1), "requests": done,
            "requests_per_s": round(done / self.duration_s, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p95_ms": round(float(np.percentile(lat, 95)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "max_ms": round(float(lat.max()), 2), "errors": self.errors,
            "missed": self.missed,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }
        if self.server_cpu_s is not None and done:
            out["server_cpu_us_per_request"] = round(self.server_cpu_s / done * 1e6, 1)
        if self.server_cpu_split:
            out["server_cpu_split"] = self.server_cpu_split
        if len(self.method_latencies_ms) > 1:  # a mix: each kind's own percentiles
            out["by_method"] = {
                method: {"requests": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 2),
                         "p99_ms": round(float(np.percentile(ms, 99)), 2)}
                for method, ms in sorted(self.method_latencies_ms.items())}
        return out


def request_bytes(method: str, path: str, host: str, headers: dict[str, str] | None = None,
                  body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        key = key.strip().lower()
        if key == b"content-length":
            length = int(value)
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, bytes(body)
        body += chunk[:-2]


def per_process_cpu_s(pids: list[int]) -> list[float]:
    """User + system CPU seconds of each process so far (from /proc; 0 for one that is gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = []
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            found.append(0.0)
            continue
        found.append((int(fields[11]) + int(fields[12])) / ticks)
    return found


async def run_load(host: str, port: int, make_request: MakeRequest, *, name: str,
                   duration_s: float, connections: int, rate_per_s: float | None = None,
                   server_pids: list[int] | None = None, warmup_s: float = 2.0,
                   open_interval_s: float = 0.002) -> LoadResult:
    """Run `make_request(i)` requests for `warmup_s` (not recorded), then `duration_s`.

    Connections open `open_interval_s` apart, as real clients arrive, not in one burst: with
    several server processes on one listening socket, a burst lets whichever process wakes
    first accept most connections (seen: 2 workers serving like 1), and keep-alive keeps that
    imbalance for the whole run. `server_cpu_split` in the summary shows how the work spread.
    """
    if warmup_s > 0:
        await run_load(host, port, make_request, name="warmup", duration_s=warmup_s,
                       connections=connections, rate_per_s=rate_per_s, warmup_s=0)
    result = LoadResult(name, duration_s)
    counter = itertools.count()
    sent = [0]
    cpu_before = per_process_cpu_s(server_pids or [])
    t0 = time.perf_counter()
    end = t0 + duration_s

    async def connection(k: int) -> None:
        await asyncio.sleep(k * open_interval_s)
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                i = next(counter)
                now = time.perf_counter()
                due = t0 + i / rate_per_s if rate_per_s else now
                if due >= end or now >= end:  # a server far behind: stop sending at the end
                    return
                sent[0] += 1
                wait_s = due - time.perf_counter()
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
                request = make_request(i)
                try:
                    writer.write(request)
                    status, _ = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    result.errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                latency_ms = (time.perf_counter() - due) * 1000
                result.latencies_ms.append(latency_ms)
                method = request[: request.find(b" ")].decode()
                result.method_latencies_ms.setdefault(method, []).append(latency_ms)
                result.statuses[status] += 1
                result.errors += status >= 500
        finally:
            writer.close()

    await asyncio.gather(*(connection(k) for k in range(connections)))
    result.duration_s = time.perf_counter() - t0
    if rate_per_s:
        result.missed = max(0, int(duration_s * rate_per_s) - sent[0])
    if server_pids:
        used = [after - before for after, before in
                zip(per_process_cpu_s(server_pids), cpu_before, strict=True)]
        result.server_cpu_s = sum(used)
        result.server_cpu_split = [round(u / max(sum(used), 1e-9), 2) for u in used]
    return result
