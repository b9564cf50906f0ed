"""The upsample stage: `enhanced.wav` → engine to 48 kHz, block by block, kept only above the
input's own cutoff where the enhancer kept its band (`enhanced_fullband.wav`; `widen`) → (44.1 kHz)
→ mastering (loudness target, true-peak limit) → output in the requested format (a video input's
picture copied in, for video formats) → quality report (DNSMOS and bandwidth in → out) → job
succeeded. Celery-free; tasks.py is a thin shell. Never imports torch."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import soundfile as sf

from services.upsampler.finish import finish_file
from services.upsampler.quality import safe_quality_report
from services.upsampler.widen import widen
from shared.audio.formats import OutputFormat, resolve_format
from shared.jobs.model import JobOptions, JobStatus
from shared.logging import log_event
from shared.runtime import WorkerContext, enhanced_key, fullband_key, input_key, output_key
from shared.stages import (
    StageFailed,
    claim,
    deadline_check,
    discard_if_abandoned,
    fail,
    progress_reporter,
)
from shared.storage.base import ObjectMissing
from shared.timing import StageClock

log = logging.getLogger("speakup.upsampler")

Notify = Callable[[str, str], None]
_NOT_REMUXABLE = ("The video stream cannot be copied into {} unchanged. Ask for the video in its "
                  "own container (format \"video\") or for an audio format.")


def run_upsample(ctx: WorkerContext, job_id: str, notify: Notify, retries: int = 0) -> str:
    settings, store, storage = ctx.settings, ctx.store, ctx.storage
    claim(store, job_id, previous=JobStatus.ENHANCING, running=JobStatus.UPSAMPLING,
          stage="upsample", max_attempts=settings.max_redeliveries, retries=retries)
    job = store.get(job_id)
    assert job is not None
    options = job.options
    report = progress_reporter(store, job_id, JobStatus.UPSAMPLING)
    started = time.monotonic()
    clock = StageClock()
    with tempfile.TemporaryDirectory(prefix="speakup-ups-") as tmp:
        enhanced = Path(tmp, "enhanced.wav")
        storage.download_file(enhanced_key(job_id), enhanced)
        source = _download_optional(storage, input_key(job_id), Path(tmp, "input"))
        fullband = _download_optional(storage, fullband_key(job_id), Path(tmp, "fullband.wav"))
        cutoff_hz = (job.input or {}).get("bandwidth_hz")
        info = sf.info(str(enhanced))
        rate, duration_s = info.samplerate, info.duration
        soft_limit_s, _ = settings.task_time_limits(duration_s)
        check = deadline_check(store, job_id, JobStatus.UPSAMPLING, soft_limit_s)
        try:
            fmt = output_format(options, source)
            final = Path(tmp, f"output.{fmt.name}")
            if options.sample_rate_hz == rate:
                engine_name, engine_version, wide = "none", "-", enhanced
            else:
                try:
                    with clock.stage("upsample"):
                        widened = widen(enhanced, fullband, cutoff_hz, options.upsampler,
                                        Path(tmp), block_s=settings.enhance_block_s,
                                        progress=lambda f: report(0.7 * f), check=check)
                except LookupError as exc:
                    raise StageFailed("unknown_upsampler", str(exc)) from exc
                engine_name, engine_version, wide = widened.engine, widened.version, widened.path
            mastering = finish_file(wide, final, target_rate_hz=options.sample_rate_hz,
                                    preset=options.preset, fmt=fmt, bit_depth=options.bit_depth,
                                    bitrate_kbps=options.bitrate_kbps, tags=tags(options),
                                    video_src=source if fmt.video else None,
                                    progress=lambda f: report(0.7 + 0.22 * f), clock=clock)
        except StageFailed as exc:
            fail(store, job_id, exc.code, exc.message)
            return "failed"
        except (av.FFmpegError, ValueError) as exc:
            if not fmt.video:
                raise
            log_event(log, "video.remux_failed", logging.WARNING, job_id=job_id, error=str(exc))
            fail(store, job_id, "video_not_remuxable", _NOT_REMUXABLE.format(fmt.name.upper()))
            return "failed"
        with clock.stage("quality"):
            mastering.update(safe_quality_report(source, final, enhanced, job_id,
                                                 bandwidth_in_hz=cutoff_hz))
        report(0.99)
        size = final.stat().st_size
        key = output_key(job_id, fmt.name)
        storage.put_file(key, final, fmt.content_type)
    compute_s = time.monotonic() - started
    store.merge(job_id, "engine", {"upsampler": engine_name, "upsampler_version": engine_version})
    # The enhancer's stages (decode, enhance, fullband) came first: keep them beside ours.
    stage_seconds = {**(job.metrics or {}).get("stage_seconds", {}),
                     **clock.rounded("upsample", "master", "encode", "quality")}
    store.merge(job_id, "metrics", {**mastering, "upsample_s": round(compute_s, 3),
                                    "upsample_rtf": round(compute_s / max(duration_s, 1e-6), 4),
                                    "stage_seconds": stage_seconds})
    won = store.transition(
        job_id, JobStatus.SUCCEEDED,
        output={"key": key, "sample_rate_hz": mastering["output_sample_rate_hz"],
                "format": fmt.name, "bytes": size},
    )
    if won:
        log_event(log, "stage.succeeded", job_id=job_id, engine=engine_name,
                  duration_s=round(duration_s, 2), seconds=round(compute_s, 2))
        if options.webhook_url is not None:
            notify(job_id, "job.succeeded")
    elif discard_if_abandoned(store, storage, job_id):
        return "discarded"
    return "done" if won else "skipped"


def _download_optional(storage: Any, key: str, path: Path) -> Path | None:
    """The original upload (for the quality report and a video's picture) or the full-band
    intermediate; None where there is none (any more)."""
    try:
        storage.download_file(key, path)
    except ObjectMissing:
        return None
    return path


def output_format(options: JobOptions, source: Path | None) -> OutputFormat:
    """The format to write; a video format needs the input's picture, in a form the container
    takes as it is (StageFailed otherwise, before any engine runs)."""
    if options.format not in ("video", "mp4", "mov", "mkv", "webm"):
        return resolve_format(options.format, None)
    from shared.audio.video import check_remuxable, video_container_of

    container = video_container_of(source) if source is not None else None
    if source is None or container is None:
        raise StageFailed("no_video_stream",
                          "A video result was asked for, but the upload has no video we can "
                          "keep (mp4, mov, mkv or webm). Choose an audio format instead.")
    fmt = resolve_format(options.format, container)
    try:
        check_remuxable(source, fmt)
    except ValueError as exc:
        raise StageFailed("video_not_remuxable", _NOT_REMUXABLE.format(fmt.name.upper())) from exc
    return fmt


def tags(options: JobOptions) -> dict[str, str]:
    return {name: value for name, value in (("title", options.title),
                                            ("artist", options.artist)) if value}
