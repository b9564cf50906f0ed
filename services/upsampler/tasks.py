"""Celery shell of the upsample stage."""

from __future__ import annotations

import logging

from celery import Celery
from celery.signals import worker_process_init

from services.upsampler import engines
from services.upsampler.stage import run_upsample
from shared.logging import log_event
from shared.runtime import WorkerContext
from shared.stages import StageSkipped, private_tmpdir, transient_errors
from shared.tasks import QUEUE_CLEANUP, TASK_UPSAMPLE, TASK_WEBHOOK
from shared.worker_app import RETRY_POLICY

log = logging.getLogger("speakup.upsampler")


def register_tasks(app: Celery, ctx: WorkerContext) -> None:
    # Import the engines (torch, TensorFlow...) and what the stage imports lazily here, in the
    # worker's main process: pool processes forked later, at start and after a crash, inherit
    # them instead of spending their first job on imports (measured under load: 15-20 s per job
    # redelivered after a SIGKILL, against 1 s with a warm process).
    engines.names()
    _preload_quality_report()

    @worker_process_init.connect(weak=False)
    def _init_process(**_: object) -> None:
        private_tmpdir()  # its own temp root; a replacement erases a killed one's audio
        ctx.store, ctx.storage  # noqa: B018 - clients built now, not during the first job

    @app.task(name=TASK_UPSAMPLE, bind=True, autoretry_for=transient_errors(), **RETRY_POLICY)
    def upsample(self, job_id: str) -> str:  # type: ignore[no-untyped-def]
        def notify(jid: str, event: str) -> None:
            app.send_task(TASK_WEBHOOK, kwargs={"job_id": jid, "event": event},
                          queue=QUEUE_CLEANUP)

        try:
            return run_upsample(ctx, job_id, notify, retries=self.request.retries)
        except StageSkipped as exc:
            log_event(log, "stage.skipped", job_id=job_id, stage="upsample", reason=str(exc))
            return "skipped"


def _preload_quality_report() -> None:
    """onnxruntime's import (the DNSMOS report) too; its session is built per process, on first
    use, since a session's threads do not survive a fork."""
    try:
        import onnxruntime  # noqa: F401

        import services.upsampler.quality  # noqa: F401
    except ImportError as exc:  # the report is then skipped, never the job
        log_event(log, "quality.unavailable", logging.WARNING, error=str(exc))
