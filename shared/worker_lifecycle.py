"""Worker liveness for orchestrators: a heartbeat file touched by the consumer's own timer (so a
hung consumer stops touching it) and a `.ready` file once the worker consumes.

Kubernetes probes check the file's age; no `celery inspect ping` round trip through the broker.
SIGTERM is Celery's warm shutdown: the current task finishes, and with late acks a task cut off by
SIGKILL goes back to the queue.
"""

from __future__ import annotations

import logging
from pathlib import Path

from celery import Celery, bootsteps
from celery.signals import worker_ready, worker_shutdown

from shared.logging import log_event

log = logging.getLogger("speakup.worker")
HEARTBEAT_INTERVAL_S = 10.0


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def install_lifecycle(app: Celery, heartbeat_file: Path | None) -> None:
    if heartbeat_file is None:
        return
    ready_file = heartbeat_file.with_name(heartbeat_file.name + ".ready")

    class Heartbeat(bootsteps.StartStopStep):
        requires = {"celery.worker.consumer.tasks:Tasks"}

        def start(self, consumer):  # type: ignore[no-untyped-def]
            _touch(heartbeat_file)
            self.tref = consumer.timer.call_repeatedly(
                HEARTBEAT_INTERVAL_S, _touch, (heartbeat_file,), priority=10
            )

        def stop(self, consumer):  # type: ignore[no-untyped-def]
            if getattr(self, "tref", None) is not None:
                self.tref.cancel()

    app.steps["consumer"].add(Heartbeat)

    @worker_ready.connect(weak=False)
    def _ready(**_: object) -> None:
        _touch(ready_file)
        log_event(log, "worker.ready")

    @worker_shutdown.connect(weak=False)
    def _gone(**_: object) -> None:
        for path in (ready_file, heartbeat_file):
            path.unlink(missing_ok=True)
        log_event(log, "worker.stopped")
