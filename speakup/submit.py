"""`speakup submit DIR --api URL`: a folder of recordings through a running SpeakUp service.

Bounded concurrency (one thread per job in flight), a progress bar, retries with backoff, and a
state file in the folder (`.speakup-submit.json`, mode 0600: it holds job tokens) that makes a
second run resume: finished files are skipped, jobs still on the server are waited for, and
everything else starts again. Results land beside their inputs as `name.enhanced.wav`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from speakup.cli_common import Exit, beside, find_recordings, job_options
from speakup.client import JobFailed, JobHandle, SpeakUpClient, SpeakUpError
from speakup.submit_state import Entry, StateFile, summary_table

STATE_NAME = ".speakup-submit.json"
# The input's fault: another try cannot help (shared/audio/errors.py and the api's limits).
RETRYABLE_JOB_CODES = frozenset({"worker_lost", "processing_timeout", "expired", "cancelled",
                                 "upload_missing", "upload_expired"})


class Stopped(Exception):
    """Ctrl-C: stop between steps; the state file keeps what was done."""


@dataclass(frozen=True)
class Settings:
    options: dict[str, Any]
    retries: int
    timeout_s: float
    keep: bool


class Batch:
    def __init__(self, root: Path, client: SpeakUpClient, state: StateFile, settings: Settings,
                 progress: Progress, stop: threading.Event) -> None:
        self.root, self.client, self.state, self.settings = root, client, state, settings
        self.progress, self.stop = progress, stop
        self.overall = progress.add_task("all files", total=0, stage="")

    def process(self, entry: Entry) -> None:
        task = self.progress.add_task(entry.path, total=1.0, stage="starting")
        try:
            self._process(entry, task)
        except Stopped:
            pass
        finally:
            self.progress.remove_task(task)
            self.progress.advance(self.overall)
            self._announce(entry)

    def _process(self, entry: Entry, task: Any) -> None:
        src = self.root / entry.path
        for attempt in range(self.settings.retries + 1):
            self._check_stop()
            try:
                self._run_once(entry, src, task)
                return
            except JobFailed as exc:
                entry.error = {"code": exc.code, "message": exc.message}
                if exc.code not in RETRYABLE_JOB_CODES:
                    rejected = _is_rejection(exc.code)
                    self._save(entry, phase="rejected" if rejected else "failed")
                    return
                self._save(entry, phase="new", job_id=None, token=None)
            except SpeakUpError as exc:
                entry.error = {"code": exc.code, "message": exc.message}
                if _is_rejection(exc.code):  # refused at create (type, size)
                    self._save(entry, phase="rejected")
                    return
                if exc.status_code in (404, 410) and entry.job_id:  # gone (erased, TTL): anew
                    self._save(entry, phase="new", job_id=None, token=None)
                elif not exc.transient:
                    self._save(entry, phase="failed")
                    return
            except TimeoutError as exc:
                entry.error = {"code": "timeout", "message": str(exc)}
                self._save(entry, phase="failed")  # the job id stays: a rerun waits on
                return
            entry.attempts += 1
            if attempt < self.settings.retries:
                self._sleep(min(2.0 * 2**attempt, 60.0))
        self._save(entry, phase="failed")

    def _run_once(self, entry: Entry, src: Path, task: Any) -> None:
        timed_out = entry.phase == "failed" and (entry.error or {}).get("code") == "timeout"
        if (entry.phase in ("new", "created", "failed") and not timed_out) or not entry.job_id:
            if entry.job_id and entry.phase == "created":
                self._forget(entry)  # its upload never finished; its URL has likely expired
            self.progress.update(task, stage="uploading", completed=0.0)
            job = self.client.create(src, self.settings.options)
            self._save(entry, phase="created", job_id=job.id, token=job.token, error=None)
            self.client.upload(job, src, lambda sent, total: self.progress.update(
                task, completed=0.3 * sent / max(total, 1)))
            self.client.submit(job)
            self._save(entry, phase="submitted")
        job = JobHandle(str(entry.job_id), str(entry.token))
        state = self.client.wait(job, timeout_s=self.settings.timeout_s, on_update=lambda s:
                                 self.progress.update(task, stage=s.status,
                                                      completed=0.3 + 0.65 * s.progress))
        entry.metrics = {k: state.metrics.get(k) for k in (
            "input_lufs", "output_lufs", "output_true_peak_dbtp", "output_duration_s")}
        self.progress.update(task, stage="downloading", completed=0.95)
        fmt = str((state.result or {}).get("format") or self.settings.options["format"])
        dst = beside(src, fmt)
        if state.status == "purged":  # a run stopped between the download and saving it
            if not dst.exists():
                raise SpeakUpError(410, "purged", "the result was erased before it was saved")
        else:
            self.client.download(job, dst)
        self._save(entry, phase="done", output=dst.name, error=None)
        if not self.settings.keep:
            self.client.delete(job)
            entry.deletion = self.client.status(job).deletion
            self._save(entry)

    def _forget(self, entry: Entry) -> None:
        try:
            self.client.delete(JobHandle(str(entry.job_id), str(entry.token)))
        except SpeakUpError:
            pass

    def _save(self, entry: Entry, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(entry, name, value)
        self.state.put(entry)

    def _sleep(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise Stopped

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped

    def _announce(self, entry: Entry) -> None:
        marks = {"done": "[green]✓[/green]", "rejected": "[yellow]✗[/yellow]",
                 "failed": "[red]✗[/red]"}
        if entry.phase in marks:
            detail = entry.output if entry.phase == "done" else (entry.error or {}).get("message")
            self.progress.console.print(f"{marks[entry.phase]} {entry.path} → {detail}")


def _is_rejection(code: str) -> bool:
    """The decoder refused the input (not audio, too long, silent…): the file's fault."""
    from shared.audio.errors import MESSAGES

    return code in MESSAGES or code in ("unsupported_content_type", "too_large")


def options_key(options: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False)
    root: Path = args.directory
    if not root.is_dir():
        err.print(f"speakup submit: not a folder: {root}")
        return Exit.USAGE
    fmt = args.format or "wav"
    options = job_options(args, fmt)
    files = find_recordings([root], recursive=args.recursive)
    if not files:
        err.print(f"speakup submit: no recordings in {root}")
        return Exit.USAGE
    stop = threading.Event()
    client = SpeakUpClient(args.api, max_retries=args.retries, sleep=lambda s: _wait(stop, s))
    try:
        client._request("GET", "/healthz")  # noqa: SLF001 - a plain reachability check
    except SpeakUpError as exc:
        err.print(f"speakup submit: cannot reach the service at {args.api}: {exc.message}")
        return Exit.UNREACHABLE
    state = StateFile(args.state or root / STATE_NAME, api_url=args.api)
    key = options_key(options)
    todo = [state.entry_for(root, path, key, args.retry_failed) for path in files]
    todo = [e for e in todo if e.phase not in ("done", "rejected")
            or (e.phase == "done" and not (root / str(e.output)).exists())]
    skipped = len(files) - len(todo)
    settings = Settings(options, args.retries, args.timeout, args.keep_on_server)
    progress = Progress(TextColumn("{task.description}", style="bold"), BarColumn(),
                        TaskProgressColumn(), TextColumn("{task.fields[stage]}"),
                        TimeElapsedColumn(), console=err, disable=args.quiet)
    if skipped:
        err.print(f"{skipped} file(s) already done or rejected in an earlier run: skipped")
    interrupted = False
    with progress, ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        batch = Batch(root, client, state, settings, progress, stop)
        progress.update(batch.overall, total=len(todo))
        futures = [pool.submit(batch.process, entry) for entry in todo]
        try:
            for future in futures:
                while not future.done():
                    time.sleep(0.2)
                future.result()
        except KeyboardInterrupt:
            interrupted = True
            stop.set()
            err.print("stopping: finishing the current step of each file (run again to resume)")
    client.close()
    entries = [state.get(str(p.relative_to(root))) for p in files]
    Console(highlight=False, soft_wrap=True).print(summary_table(entries))
    if interrupted:
        return Exit.INTERRUPTED
    phases = {e.phase for e in entries if e is not None}
    if phases - {"done", "rejected"}:
        return Exit.FAILED
    return Exit.REJECTED if "rejected" in phases else Exit.OK


def _wait(stop: threading.Event, seconds: float) -> None:
    if stop.wait(seconds):
        raise Stopped

