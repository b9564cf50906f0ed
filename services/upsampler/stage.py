"""The upsample stage: `enhanced.wav` → engine to 48 kHz, block by block → (44.1 kHz) → mastering
(loudness target, true-peak limit) → output in the requested format → job succeeded.
Celery-free; tasks.py is a thin shell. Never imports torch."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import soundfile as sf

from services.upsampler import engines
from services.upsampler.finish import finish_file
from shared.audio.blocks import process_file
from shared.jobs.model import JobStatus
from shared.logging import log_event
from shared.runtime import WorkerContext, enhanced_key, output_key
from shared.stages import (
    StageFailed,
    claim,
    deadline_check,
    discard_if_abandoned,
    fail,
    progress_reporter,
)

log = logging.getLogger("speakup.upsampler")
ENGINE_RATE_HZ = 48_000

Notify = Callable[[str, str], None]


def run_upsample(ctx: WorkerContext, job_id: str, notify: Notify, retries: int = 0) -> str:
    settings, store, storage = ctx.settings, ctx.store, ctx.storage
    claim(store, job_id, previous=JobStatus.ENHANCING, running=JobStatus.UPSAMPLING,
          stage="upsample", max_attempts=settings.max_redeliveries, retries=retries)
    job = store.get(job_id)
    assert job is not None
    options = job.options
    report = progress_reporter(store, job_id, JobStatus.UPSAMPLING)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="speakup-ups-") as tmp:
        enhanced, wide = Path(tmp, "enhanced.wav"), Path(tmp, "wide.wav")
        final = Path(tmp, f"output.{options.format}")
        storage.download_file(enhanced_key(job_id), enhanced)
        info = sf.info(str(enhanced))
        rate, duration_s = info.samplerate, info.duration
        soft_limit_s, _ = settings.task_time_limits(duration_s)
        check = deadline_check(store, job_id, JobStatus.UPSAMPLING, soft_limit_s)
        try:
            if options.sample_rate_hz == rate:
                engine_name, engine_version, wide = "none", "-", enhanced
            else:
                try:
                    engine = engines.get(options.upsampler)
                except LookupError as exc:
                    raise StageFailed("unknown_upsampler", str(exc)) from exc
                engine_name, engine_version = engine.name, engine.version
                ratio = ENGINE_RATE_HZ // rate
                process_file(enhanced, wide,
                             lambda x: engine.upsample(x, rate, ENGINE_RATE_HZ), ratio=ratio,
                             block_s=settings.enhance_block_s, overlap_s=0.25, context_s=0.5,
                             progress=lambda f: report(0.7 * f), check=check)
            mastering = finish_file(wide, final, target_rate_hz=options.sample_rate_hz,
                                    preset=options.preset, fmt=options.format,
                                    bit_depth=options.bit_depth,
                                    progress=lambda f: report(0.7 + 0.25 * f))
        except StageFailed as exc:
            fail(store, job_id, exc.code, exc.message)
            return "failed"
        size = final.stat().st_size
        key = output_key(job_id, options.format)
        storage.put_file(key, final, "audio/flac" if options.format == "flac" else "audio/wav")
    compute_s = time.monotonic() - started
    store.merge(job_id, "engine", {"upsampler": engine_name, "upsampler_version": engine_version})
    store.merge(job_id, "metrics", {**mastering, "upsample_s": round(compute_s, 3),
                                    "upsample_rtf": round(compute_s / max(duration_s, 1e-6), 4)})
    won = store.transition(
        job_id, JobStatus.SUCCEEDED,
        output={"key": key, "sample_rate_hz": options.sample_rate_hz, "format": options.format,
                "bytes": size},
    )
    if won:
        log_event(log, "stage.succeeded", job_id=job_id, engine=engine_name,
                  duration_s=round(duration_s, 2), seconds=round(compute_s, 2))
        if options.webhook_url is not None:
            notify(job_id, "job.succeeded")
    elif discard_if_abandoned(store, storage, job_id):
        return "discarded"
    return "done" if won else "skipped"
