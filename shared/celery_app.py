"""The Celery app factory: every worker and the api build their app here, with the reliability
settings of the architecture (late acks, requeue on a lost worker, prefetch 1, explicit queues)."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from shared.settings import Settings
from shared.tasks import QUEUES, TASK_AUDIT, TASK_PURGE_DUE, TASK_QUEUES, TASK_SWEEP_STUCK


def create_celery(settings: Settings, name: str = "speakup") -> Celery:
    app = Celery(name, broker=settings.redis_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_queues=[Queue(q) for q in QUEUES],
        task_routes={task: {"queue": queue} for task, queue in TASK_QUEUES.items()},
        task_default_queue=QUEUES[-1],
        task_track_started=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            # Above the longest task, or a slow task would be delivered twice.
            "visibility_timeout": settings.broker_visibility_timeout_s,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
            "retry_on_timeout": True,
        },
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_heartbeat=0,
        beat_schedule={
            "purge-due": {"task": TASK_PURGE_DUE, "schedule": settings.cleanup_interval_s},
            "sweep-stuck": {"task": TASK_SWEEP_STUCK, "schedule": settings.cleanup_interval_s * 2},
            "audit-nightly": {"task": TASK_AUDIT, "schedule": 24 * 3600.0},
        },
    )
    return app
