"""The FastAPI gateway: `create_app(settings)`.

Run: `uvicorn --factory services.api.app:make_app` (reads SPEAKUP_* from the environment).
The lifespan builds the job store, the storage and the Celery app once and keeps them on
`app.state`; nothing is built at import time.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import redis
from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from services.api.creation import Backends
from services.api.errors import error_response, install_error_handlers
from services.api.fastpath import JobStatusFastPath, status_route
from services.api.metrics import Metrics, MetricsMiddleware
from services.api.openapi import build_openapi
from services.api.ratelimit import FixedWindowLimiter
from services.api.routers import health, jobs
from shared.jobs.loop_redis import LoopRedis
from shared.jobs.store import AsyncJobStore, JobStore
from shared.logging import configure_logging, log_event
from shared.runtime import make_celery, make_storage
from shared.settings import Settings, get_settings

log = logging.getLogger("speakup.api")
WEB_DIR = Path(__file__).resolve().parent / "web"
_PAGE_CSP = (
    "default-src 'self'; connect-src 'self' {storage}; media-src 'self' {storage} blob:; "
    "img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


# A hung Redis must not hold a request for long, so the api's clients time out sooner than the
# workers' (10 s).
_REDIS_SOCKET_TIMEOUT_S = 2.0
_REDIS_CONNECT_TIMEOUT_S = 1.0


def _make_store(settings: Settings) -> JobStore:
    client = redis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        health_check_interval=30,
        socket_timeout=_REDIS_SOCKET_TIMEOUT_S,
        socket_connect_timeout=_REDIS_CONNECT_TIMEOUT_S,
    )
    return JobStore(client)


def _make_async_store(settings: Settings) -> AsyncJobStore:
    """The event loop's store (polls, creates): built in the lifespan, on the serving loop."""
    client = LoopRedis.from_url(
        settings.redis_url,
        socket_timeout=_REDIS_SOCKET_TIMEOUT_S,
        socket_connect_timeout=_REDIS_CONNECT_TIMEOUT_S,
    )
    return AsyncJobStore(client)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    store, astore = _make_store(settings), _make_async_store(settings)
    storage = make_storage(settings)
    celery = make_celery(settings)
    app.state.store, app.state.storage, app.state.celery = store, storage, celery
    app.state.astore = astore
    app.state.limiter = FixedWindowLimiter(
        store.redis, settings.create_rate_per_minute, 60, async_client=astore.redis
    )
    app.state.backends = Backends(settings, store, storage, celery, app.state.metrics, astore)
    app.state.metrics.queues.redis = store.redis
    await run_in_threadpool(_ensure_bucket, storage, settings)
    if settings.storage_backend == "local":
        from services.api.routers.storage import make_storage_router

        app.state.storage_app = make_storage_router(storage)  # type: ignore[arg-type]
    # Start-up objects (modules, schemas, app) never die: keep them out of every GC pass.
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        app.state.metrics.queues.redis = None
        app.state.storage_app = None
        celery.close()
        store.redis.close()
        await astore.redis.aclose()


def _ensure_bucket(storage: Any, settings: Settings) -> None:
    """Create the local root / the bucket and its lifecycle rule (idempotent). An S3 outage or
    missing permission must not stop the api from starting: /readyz reports it instead."""
    try:
        storage.ensure_bucket(settings.bucket_lifecycle_days)
    except Exception as exc:  # noqa: BLE001
        log_event(
            log, "storage.ensure_bucket_failed", logging.WARNING, error_type=type(exc).__name__
        )


async def _storage_dispatch(scope: Scope, receive: Receive, send: Send) -> None:
    """Hands /storage/* to the local backend's signed-URL router (built in the lifespan)."""
    inner = getattr(scope["app"].state, "storage_app", None)
    if inner is None:
        response = error_response(404, "not_found", "not found")
        await response(scope, receive, send)
        return
    await inner(scope, receive, send)


def _page_headers(settings: Settings) -> dict[str, str]:
    storage_origin = ""
    if settings.storage_backend == "s3":
        storage_origin = settings.s3_public_endpoint_url or settings.s3_endpoint_url or "https:"
    return {
        "Content-Security-Policy": _PAGE_CSP.format(storage=storage_origin).replace("  ", " "),
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Swagger UI's assets ship in fastapi-offline: /docs works with no internet
    app = FastAPIOffline(
        title="SpeakUp",
        version="1.0.0",
        lifespan=_lifespan,
        description="Phone recordings in, studio sound out. Every job route needs "
        "`Authorization: Bearer <token>` (the token POST /v1/jobs returned).",
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.storage_app = None
    install_error_handlers(app)
    app.include_router(jobs.router)
    app.include_router(health.router)
    app.mount("/storage", _storage_dispatch, name="storage")
    app.mount("/web", StaticFiles(directory=WEB_DIR), name="web")
    page_headers = _page_headers(settings)

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return FileResponse(WEB_DIR / "index.html", headers=page_headers)

    app.openapi = lambda: build_openapi(app, settings)  # type: ignore[method-assign]
    app.add_middleware(JobStatusFastPath, route=status_route(jobs.router))
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outermost: counts both
    return app


def make_app() -> FastAPI:
    """For `uvicorn --factory services.api.app:make_app`: settings from the environment."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


# `uvicorn --factory services.api.app:app` works too; nothing is built at import time.
app = make_app
