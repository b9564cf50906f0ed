"""Prometheus metrics and the pure-ASGI middleware that feeds them.

Labels are bounded: HTTP method, the route *template* (`/v1/jobs/{id}`, never the id), status
code. Never ids, tokens or URLs. Queue lengths are read (LLEN) when Prometheus scrapes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.tasks import QUEUES

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_LATENCY_BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class QueueLengths(Collector):
    """`speakup_queue_length{queue}` from the Celery broker lists, one pipelined LLEN."""

    def __init__(self) -> None:
        self.redis: redis.Redis | None = None

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "speakup_queue_length", "Tasks waiting in a Celery queue", labels=["queue"]
        )
        if self.redis is not None:
            try:
                pipe = self.redis.pipeline(transaction=False)
                for queue in QUEUES:
                    pipe.llen(queue)
                for queue, length in zip(QUEUES, pipe.execute(), strict=True):
                    family.add_metric([queue], float(length))
            except redis.RedisError:
                pass  # /readyz reports the outage; the scrape still succeeds
        yield family


class Metrics:
    """One registry per app instance (tests build many apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "speakup_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "speakup_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.jobs_created = Counter(
            "speakup_jobs_created", "Jobs created", ["mode"], registry=self.registry
        )
        self.queues = QueueLengths()
        self.registry.register(self.queues)
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, route: str, status: int, duration_s: float) -> None:
        key = (method, route, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.requests.labels(method, route, str(status))
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = self._histograms[(method, route)] = self.latency.labels(method, route)
        histogram.observe(duration_s)


_NO_STORE = (b"cache-control", b"no-store")
_NOSNIFF = (b"x-content-type-options", b"nosniff")


class MetricsMiddleware:
    """Counts and times every HTTP request by route template; adds two safety headers.

    `Cache-Control: no-store` on API answers (they carry tokens and signed URLs) and
    `X-Content-Type-Options: nosniff` everywhere. Pure ASGI: no per-request task or copy.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        base_root = scope.get("root_path", "")
        no_store = scope["path"].startswith(("/v1/", "/storage/"))
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                if _NOSNIFF[0] not in names:
                    headers.append(_NOSNIFF)
                if no_store and _NO_STORE[0] not in names:
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self.metrics.observe(
                method, _route_template(scope, base_root), status, time.perf_counter() - start
            )


def _route_template(scope: Scope, base_root: str) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not path:
        return "unmatched"
    mounted = scope.get("root_path", "")[len(base_root) :]
    return f"{mounted}{path}"
