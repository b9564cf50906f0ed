"""`GET /v1/jobs/{id}` — the polling hot path — answered in front of FastAPI's router.

Clients poll this route about once a second per running job, so it is most of the api's traffic.
Through FastAPI's router, dependency solving and exception middleware a poll cost ~490 µs of CPU;
answered here, ~320 µs, and 2 workers went from ~2,900 to ~4,050 polls/s on 2 cores (A/B in one
sitting: benchmarks/results/load_experiments.md). This pure-ASGI layer answers the route with the
same code (`views.status_answer`) and the same bodies; everything else, and anything unusual on this
path (an id longer than the route admits), goes on to the full app, whose declaration of the
route stays the one the OpenAPI document shows.
"""

from __future__ import annotations

from typing import Any

import redis
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.errors import NOT_FOUND, error_response, unavailable_response
from services.api.views import status_answer
from shared.jobs.store import AsyncJobStore

PREFIX = "/v1/jobs/"
ROUTE_PATH = "/v1/jobs/{id}"
MAX_ID_LENGTH = 128  # the route's path parameter admits no more (deps.JobIdPath)
_JSON = (b"content-type", b"application/json")


def status_route(router: APIRouter) -> APIRoute:
    """The declared `GET /v1/jobs/{id}` route of the jobs router."""
    return next(
        r
        for r in router.routes
        if isinstance(r, APIRoute) and r.path == ROUTE_PATH and "GET" in (r.methods or ())
    )


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; "" for none or another scheme
    (as FastAPI's HTTPBearer(auto_error=False) reads it)."""
    scheme, token = get_authorization_scheme_param(authorization)
    return token if authorization and scheme.lower() == "bearer" and token else ""


class JobStatusFastPath:
    """Answers `GET /v1/jobs/{id}`; passes every other request to `app` untouched."""

    def __init__(self, app: ASGIApp, route: Any) -> None:
        self.app = app
        self.route = route  # the declared APIRoute: the metrics label it, the docs show it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        job_id = path[len(PREFIX) :]
        if (
            scope.get("method") != "GET"
            or not path.startswith(PREFIX)
            or not job_id
            or "/" in job_id
            or len(job_id) > MAX_ID_LENGTH
        ):
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        app_state = scope["app"].state
        store: AsyncJobStore = app_state.astore
        try:
            # one round trip, awaited: the loop serves other requests while Redis answers
            job = await store.authenticate(job_id, bearer_token(authorization))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            await unavailable_response(ROUTE_PATH, exc)(scope, receive, send)
            return
        if job is None:
            await error_response(404, NOT_FOUND.code, NOT_FOUND.message)(scope, receive, send)
            return
        body, headers = status_answer(job, app_state.settings.public_base_url)
        raw_headers = [_JSON, (b"content-length", str(len(body)).encode())]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})
