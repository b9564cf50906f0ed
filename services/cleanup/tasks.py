"""Celery shells of the cleanup worker: purge what is due (batched, re-enqueues itself while more
is due), purge one job, re-enqueue stuck jobs, audit orphans nightly, deliver webhooks."""

from __future__ import annotations

import logging
import time

import httpx
from celery import Celery

from services.cleanup.purge import audit_orphans, purge_due
from shared.erasure import purge_job
from shared.jobs.model import JobStatus
from shared.logging import log_event
from shared.runtime import WorkerContext
from shared.stages import transient_errors
from shared.tasks import (
    QUEUE_CLEANUP,
    QUEUE_ENHANCE,
    QUEUE_UPSAMPLE,
    TASK_AUDIT,
    TASK_ENHANCE,
    TASK_PURGE_DUE,
    TASK_PURGE_JOB,
    TASK_SWEEP_STUCK,
    TASK_UPSAMPLE,
    TASK_WEBHOOK,
)
from shared.webhooks import WebhookRefused, build_request, check_url
from shared.worker_app import RETRY_POLICY

log = logging.getLogger("speakup.cleanup")


class WebhookFailed(Exception):
    pass


def register_tasks(app: Celery, ctx: WorkerContext) -> None:
    settings = ctx.settings

    @app.task(name=TASK_PURGE_DUE, autoretry_for=transient_errors(), **RETRY_POLICY)
    def purge_due_task() -> int:
        purged, more = purge_due(ctx.store, ctx.storage, now=time.time(),
                                 batch_size=settings.purge_batch_size,
                                 tombstone_ttl_s=settings.tombstone_ttl_s)
        if more:
            app.send_task(TASK_PURGE_DUE, queue=QUEUE_CLEANUP)
        return purged

    @app.task(name=TASK_PURGE_JOB, autoretry_for=transient_errors(), **RETRY_POLICY)
    def purge_job_task(job_id: str, reason: str = "deleted") -> bool:
        return purge_job(ctx.store, ctx.storage, job_id, reason,
                         tombstone_ttl_s=settings.tombstone_ttl_s) is not None

    @app.task(name=TASK_SWEEP_STUCK, autoretry_for=transient_errors(), **RETRY_POLICY)
    def sweep_stuck_task() -> int:
        """Jobs whose stage has shown no sign of life for too long go back to their queue; the
        stage's attempt counter ends a job that keeps killing its worker."""
        stuck = ctx.store.stuck(time.time() - settings.stuck_job_timeout_s, 100)
        for job_id in stuck:
            job = ctx.store.get(job_id)
            if job is None or job.status not in (JobStatus.QUEUED, JobStatus.ENHANCING,
                                                 JobStatus.UPSAMPLING):
                continue
            ctx.store.touch_running(job_id)
            task, queue = ((TASK_UPSAMPLE, QUEUE_UPSAMPLE) if job.status == JobStatus.UPSAMPLING
                           else (TASK_ENHANCE, QUEUE_ENHANCE))
            app.send_task(task, kwargs={"job_id": job_id}, queue=queue)
            log_event(log, "job.requeued", job_id=job_id, status=job.status.value)
        return len(stuck)

    @app.task(name=TASK_AUDIT, autoretry_for=transient_errors(), **RETRY_POLICY)
    def audit_task() -> int:
        return len(audit_orphans(ctx.store, ctx.storage, now=time.time(), min_age_s=3600))

    @app.task(name=TASK_WEBHOOK, bind=True, autoretry_for=(WebhookFailed, *transient_errors()),
              retry_backoff=2, retry_backoff_max=300, retry_jitter=True,
              max_retries=settings.webhook_max_attempts)
    def webhook_task(self, job_id: str, event: str) -> str:  # type: ignore[no-untyped-def]
        job = ctx.store.get(job_id)
        if job is None or job.options.webhook_url is None:
            return "no-target"
        if (job.metrics.get("webhook") or {}).get(event) == "delivered":
            return "already-delivered"
        url = str(job.options.webhook_url)
        try:
            check_url(url, allow_private=settings.webhook_allow_private)
        except WebhookRefused as exc:
            log_event(log, "webhook.refused", job_id=job_id, reason=str(exc))
            return "refused"
        payload = {"event": event, "job": {"id": job.id, "status": job.status.value,
                                           "url": f"{settings.public_base_url}/v1/jobs/{job.id}"}}
        body, headers = build_request(settings.signing_secret.get_secret_value().encode(),
                                      f"{job_id}:{event}", payload)
        try:
            response = httpx.post(url, content=body, headers=headers,
                                  timeout=settings.webhook_timeout_s, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise WebhookFailed(type(exc).__name__) from exc
        if response.status_code >= 300:
            raise WebhookFailed(f"status {response.status_code}")
        ctx.store.merge(job_id, "metrics", {"webhook": {event: "delivered"},
                                            "webhook_attempts": self.request.retries + 1})
        log_event(log, "webhook.delivered", job_id=job_id, event_name=event)
        return "delivered"
