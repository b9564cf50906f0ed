"""Build the process's collaborators from settings: the job store, the storage, the Celery app.

Each service calls these once at start-up (api lifespan, worker init) and passes the objects on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import SecretStr

from shared.jobs.store import JobStore
from shared.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

    from shared.storage.base import Storage


def make_store(settings: Settings) -> JobStore:
    return JobStore.from_url(settings.redis_url)


def make_storage(settings: Settings) -> Storage:
    from shared.storage.factory import make_storage as build

    if settings.storage_backend == "s3":
        return build(
            "s3",
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            public_endpoint_url=settings.s3_public_endpoint_url,
            region=settings.s3_region,
            access_key=_secret(settings.s3_access_key),
            secret_key=_secret(settings.s3_secret_key),
            cors_origins=(settings.public_base_url.rstrip("/"),),
        )
    return build(
        "local",
        root=settings.local_storage_dir,
        secret=settings.signing_secret.get_secret_value().encode(),
        base_url=settings.public_base_url.rstrip("/") + "/storage",
    )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def make_celery(settings: Settings, name: str = "speakup") -> Celery:
    from shared.celery_app import create_celery

    return create_celery(settings, name)


def input_key(job_id: str) -> str:
    return f"jobs/{job_id}/input"


def enhanced_key(job_id: str) -> str:
    return f"jobs/{job_id}/enhanced.wav"


def fullband_key(job_id: str) -> str:
    """The enhanced signal at the input's own rate, where the input holds sound above 8 kHz
    (`shared.audio.bandsplit`); absent otherwise."""
    return f"jobs/{job_id}/enhanced_fullband.wav"


def output_key(job_id: str, fmt: str) -> str:
    return f"jobs/{job_id}/output.{fmt}"


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


class WorkerContext:
    """What a worker process needs, built once on first use (not at import)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: JobStore | None = None
        self._storage: Storage | None = None

    @property
    def store(self) -> JobStore:
        if self._store is None:
            self._store = make_store(self.settings)
        return self._store

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = make_storage(self.settings)
        return self._storage
