"""Liveness, readiness (Redis + storage answer) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from services.api.schemas import Health, Readiness

router = APIRouter(tags=["health"])
_CHECK_TIMEOUT_S = 3.0


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> Health:
    return Health()


def _redis_ok(request: Request) -> bool:
    try:
        return bool(request.app.state.store.ping())
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False


def _storage_ok(request: Request) -> bool:
    try:
        return bool(request.app.state.storage.ping())
    except Exception:  # noqa: BLE001
        return False


async def _check(fn, request: Request) -> str:  # type: ignore[no-untyped-def]
    try:
        ok = await asyncio.wait_for(run_in_threadpool(fn, request), _CHECK_TIMEOUT_S)
    except TimeoutError:
        return "timeout"
    return "ok" if ok else "unreachable"


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Redis and storage are reachable",
    responses={503: {"model": Readiness}},
)
async def readyz(request: Request) -> JSONResponse:
    redis_state, storage_state = await asyncio.gather(
        _check(_redis_ok, request), _check(_storage_ok, request)
    )
    checks = {"redis": redis_state, "storage": storage_state}
    ready = all(state == "ok" for state in checks.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    payload = await run_in_threadpool(generate_latest, registry)  # LLEN on Redis inside
    return Response(payload, media_type=CONTENT_TYPE_LATEST)
