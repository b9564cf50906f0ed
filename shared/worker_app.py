"""One way to build a worker's Celery app: settings → logging → app → lifecycle files.

Each worker module (`services/<name>/worker.py`) calls `build_worker_app` once; `celery -A` needs a
module-level app, so that module is the one place where the app is built on import.
"""

from __future__ import annotations

from celery import Celery

from shared.celery_app import create_celery
from shared.logging import configure_logging
from shared.runtime import WorkerContext
from shared.settings import get_settings
from shared.worker_lifecycle import install_lifecycle


def build_worker_app(name: str) -> tuple[Celery, WorkerContext]:
    settings = get_settings()
    configure_logging(settings.log_level)
    app = create_celery(settings, name)
    install_lifecycle(app, settings.worker_heartbeat_file)
    return app, WorkerContext(settings)


RETRY_POLICY = {
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 10,
}
