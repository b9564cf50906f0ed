"""Celery shell of the enhance stage: parse the payload, run the stage, hand over by task name."""

from __future__ import annotations

import logging

from celery import Celery
from celery.signals import worker_process_init

from services.enhancer import engines
from services.enhancer.stage import run_enhance
from shared.logging import log_event
from shared.runtime import WorkerContext
from shared.stages import StageSkipped, private_tmpdir, transient_errors
from shared.tasks import QUEUE_UPSAMPLE, TASK_ENHANCE, TASK_UPSAMPLE
from shared.worker_app import RETRY_POLICY

log = logging.getLogger("speakup.enhancer")


def register_tasks(app: Celery, ctx: WorkerContext) -> None:
    # Import the engines (torch, TensorFlow...) and what the stage imports lazily here, in the
    # worker's main process: pool processes forked later, at start and after a crash, inherit
    # them instead of spending their first job on imports (measured under load: 15-20 s per job
    # redelivered after a SIGKILL, against 1 s with a warm process).
    engines.names()
    import shared.audio.loudness  # noqa: F401 - the stage imports it lazily

    @worker_process_init.connect(weak=False)
    def _init_process(**_: object) -> None:
        private_tmpdir()  # its own temp root; a replacement erases a killed one's audio
        ctx.store, ctx.storage  # noqa: B018 - clients built now, not during the first job

    @app.task(name=TASK_ENHANCE, bind=True, autoretry_for=transient_errors(), **RETRY_POLICY)
    def enhance(self, job_id: str) -> str:  # type: ignore[no-untyped-def]
        def enqueue_upsample(jid: str, meta: dict[str, float]) -> None:
            soft, hard = ctx.settings.task_time_limits(meta.get("duration_s", 0.0))
            app.send_task(TASK_UPSAMPLE, kwargs={"job_id": jid}, queue=QUEUE_UPSAMPLE,
                          soft_time_limit=soft, time_limit=hard)

        try:
            return run_enhance(ctx, job_id, enqueue_upsample, retries=self.request.retries)
        except StageSkipped as exc:
            log_event(log, "stage.skipped", job_id=job_id, stage="enhance", reason=str(exc))
            return "skipped"
