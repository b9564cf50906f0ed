"""Dependencies as `Annotated` aliases. The collaborators are built once by the app's lifespan
and kept on `app.state`; these only hand them out (async: no thread hop for a lookup)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from services.api.creation import Backends
from services.api.errors import NOT_FOUND
from services.api.metrics import Metrics
from services.api.ratelimit import FixedWindowLimiter
from shared.jobs.model import Job
from shared.jobs.store import AsyncJobStore, JobStore
from shared.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

    from shared.storage.base import Storage


async def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def _store(request: Request) -> JobStore:
    return request.app.state.store  # type: ignore[no-any-return]


async def _storage(request: Request) -> Storage:
    return request.app.state.storage  # type: ignore[no-any-return]


async def _celery(request: Request) -> Celery:
    return request.app.state.celery  # type: ignore[no-any-return]


async def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


async def _limiter(request: Request) -> FixedWindowLimiter:
    return request.app.state.limiter  # type: ignore[no-any-return]


async def _backends(request: Request) -> Backends:
    return request.app.state.backends  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(_settings)]
StoreDep = Annotated[JobStore, Depends(_store)]
StorageDep = Annotated["Storage", Depends(_storage)]
CeleryDep = Annotated["Celery", Depends(_celery)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
LimiterDep = Annotated[FixedWindowLimiter, Depends(_limiter)]
BackendsDep = Annotated[Backends, Depends(_backends)]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="jobToken",
    description="The job's token, returned once by POST /v1/jobs.",
)

JobIdPath = Annotated[str, Path(alias="id", max_length=128, description="the job's id")]


async def _authed_job(
    request: Request,
    job_id: JobIdPath,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Job:
    """The job named in the path, if the bearer token is its token; else the one fixed 404.

    A missing or malformed header still runs the same lookup and comparison, so the answer and
    its timing are the same for an unknown id, no token and a wrong token.
    """
    token = credentials.credentials if credentials is not None else ""
    store: AsyncJobStore = request.app.state.astore
    # One script round trip on the asyncio client: no thread-pool hop (it costs more CPU than
    # the call), and the loop serves other requests while Redis answers.
    job = await store.authenticate(job_id, token)
    if job is None:
        raise NOT_FOUND
    return job


AuthedJob = Annotated[Job, Depends(_authed_job)]


def client_id(request: Request) -> str:
    """Who is asking, for rate limits and idempotency scopes: the peer address (uvicorn's
    --proxy-headers/--forwarded-allow-ips decide whether X-Forwarded-For is trusted)."""
    return request.client.host if request.client else "unknown"


async def run_io(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run blocking Redis/S3 calls off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)
