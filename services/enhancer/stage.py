"""The enhance stage: input from storage → decode & validate (and measure the input's bandwidth
at its own rate) → engine at 16 kHz, block by block → `enhanced.wav` in storage, and where the
input holds sound above 8 kHz `enhanced_fullband.wav` (its own band kept, denoised with the
enhancer's gains: `shared.audio.bandsplit`) → hand over to the upsampler. Celery-free; tasks.py
is a thin shell."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from services.enhancer import engines
from shared.audio.bandsplit import fullband_file, plan
from shared.audio.blocks import process_file
from shared.audio.decode import AudioRejected, DecodeLimits, probe_and_decode_to_wav
from shared.jobs.model import JobStatus
from shared.logging import log_event
from shared.runtime import WorkerContext, enhanced_key, fullband_key, input_key
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

log = logging.getLogger("speakup.enhancer")
SAMPLE_RATE_HZ = engines.SAMPLE_RATE_HZ

Enqueue = Callable[[str, dict[str, float]], None]


def run_enhance(ctx: WorkerContext, job_id: str, enqueue_upsample: Enqueue,
                retries: int = 0) -> str:
    """Run the stage for one job; returns what happened ("done", "failed")."""
    settings, store, storage = ctx.settings, ctx.store, ctx.storage
    claimed = claim(store, job_id, previous=JobStatus.QUEUED, running=JobStatus.ENHANCING,
                    stage="enhance", max_attempts=settings.max_redeliveries, retries=retries)
    job = store.get(job_id)
    assert job is not None
    report = progress_reporter(store, job_id, JobStatus.ENHANCING)
    started = time.monotonic()
    clock = StageClock()
    with tempfile.TemporaryDirectory(prefix="speakup-enh-") as tmp:
        src, decoded, enhanced = Path(tmp, "input"), Path(tmp, "in16k.wav"), Path(tmp, "out.wav")
        wide, fullband = Path(tmp, "in_wide.wav"), Path(tmp, "out_fullband.wav")
        try:
            storage.download_file(input_key(job_id), src)
        except ObjectMissing:
            fail(store, job_id, "upload_missing",
                 "The uploaded file is no longer in storage. Please upload it again.")
            return "failed"
        try:
            with clock.stage("decode"):
                info = probe_and_decode_to_wav(src, decoded, target_rate_hz=SAMPLE_RATE_HZ,
                                               limits=decode_limits(settings), wide_wav_path=wide)
        except AudioRejected as exc:
            fail(store, job_id, exc.code, exc.message)
            return "failed"
        src.unlink()
        report(0.1)
        duration_s = sf.info(str(decoded)).duration
        with clock.stage("decode"):
            loudness_in = measure_file(decoded)
        store.merge(job_id, "input", {**_info_dict(info), "attempt": claimed.attempt})
        store.merge(job_id, "metrics", {"input_lufs": loudness_in[0],
                                        "input_true_peak_dbtp": loudness_in[1],
                                        "bandwidth_in_hz": info.bandwidth_hz})
        band = plan(sf.info(str(wide)).samplerate, info.bandwidth_hz)
        keep_band = band.keep_input_band and job.options.sample_rate_hz > SAMPLE_RATE_HZ
        if not keep_band:
            wide.unlink()
        try:
            engine = engines.get(job.options.engine)
        except LookupError as exc:
            fail(store, job_id, "unknown_engine", str(exc))
            return "failed"
        soft_limit_s, _ = settings.task_time_limits(duration_s)
        check = deadline_check(store, job_id, JobStatus.ENHANCING, soft_limit_s)
        strength = job.options.strength
        try:
            with clock.stage("enhance"):
                process_file(decoded, enhanced,
                             lambda x: engine.enhance(x, SAMPLE_RATE_HZ, strength),
                             block_s=settings.enhance_block_s, overlap_s=0.5, context_s=1.0,
                             progress=lambda f: report(0.1 + (0.8 if keep_band else 0.85) * f),
                             check=check, workers=engines.block_workers(engine))
            if keep_band:
                with clock.stage("fullband"):
                    fullband_file(wide, decoded, enhanced, fullband,
                                  block_s=settings.enhance_block_s,
                                  progress=lambda f: report(0.9 + 0.05 * f), check=check)
        except StageFailed as exc:
            fail(store, job_id, exc.code, exc.message)
            return "failed"
        storage.put_file(enhanced_key(job_id), enhanced, "audio/wav")
        store.touch_running(job_id)  # a slow store is work, not a stall: keep the sweeper off
        if keep_band:
            storage.put_file(fullband_key(job_id), fullband, "audio/wav")
            store.touch_running(job_id)
    if discard_if_abandoned(store, storage, job_id):
        return "discarded"
    compute_s = time.monotonic() - started
    store.merge(job_id, "engine", {"enhancer": engine.name, "enhancer_version": engine.version})
    store.merge(job_id, "metrics", {"enhance_s": round(compute_s, 3),
                                    "enhance_rtf": round(compute_s / max(duration_s, 1e-6), 4),
                                    "stage_seconds": clock.rounded("decode", "enhance",
                                                                   "fullband")})
    report(1.0)
    enqueue_upsample(job_id, {"duration_s": duration_s})
    log_event(log, "stage.enhanced", job_id=job_id, engine=engine.name,
              duration_s=round(duration_s, 2), seconds=round(compute_s, 2))
    return "done"


def decode_limits(settings) -> DecodeLimits:  # type: ignore[no-untyped-def]
    return DecodeLimits(max_duration_s=settings.max_duration_s, max_decode_s=settings.max_decode_s,
                        max_input_bytes=settings.max_upload_bytes)


def measure_file(path: Path) -> tuple[float | None, float | None]:
    """Integrated loudness and true peak of a WAV file (None for silence), streamed."""
    from shared.audio.mastering import measure_file as measure

    return tuple(_round(v) for v in measure(path))  # type: ignore[return-value]


def _round(value: float) -> float | None:
    return round(float(value), 2) if np.isfinite(value) else None


def _info_dict(info: object) -> dict[str, object]:
    if hasattr(info, "model_dump"):
        return info.model_dump(mode="json")  # type: ignore[no-any-return]
    from dataclasses import asdict, is_dataclass

    return asdict(info) if is_dataclass(info) else dict(vars(info))  # type: ignore[arg-type]
