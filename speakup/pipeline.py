"""The whole chain in one process, for `speakup enhance`: decode (and measure the input's
bandwidth) → enhance at 16 kHz (keeping the input's own band above it: `shared.audio.bandsplit`)
→ super-resolution above the input's cutoff → master → encode. The same functions, engines,
block streaming and mastering as the workers, without Redis or S3."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf

from shared.audio.bandsplit import fullband_file, plan
from shared.audio.blocks import process_file
from shared.audio.decode import DecodeLimits, probe_and_decode_to_wav
from shared.audio.formats import VIDEO, OutputFormat, get_format, resolve_format
from shared.timing import StageClock

ENHANCE_RATE_HZ = 16_000


@dataclass(frozen=True)
class ChainOptions:
    engine: str = "auto"
    upsampler: str = "auto"
    preset: str = "podcast"
    strength: float = 1.0
    sample_rate_hz: int = 48_000
    format: str = "wav"  # a name in shared.audio.formats.FORMATS, or "video"
    bit_depth: int = 24
    block_s: float = 30.0
    bitrate_kbps: int | None = None
    title: str | None = None
    artist: str | None = None


@dataclass
class ChainReport:
    input: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    clock: StageClock = field(default_factory=StageClock)

    @property
    def seconds(self) -> dict[str, float]:
        return self.clock.seconds


Progress = Callable[[str, float], None]


def enhance_file(src: Path, dst: Path, options: ChainOptions,
                 progress: Progress | None = None,
                 ready: Callable[[], None] | None = None) -> ChainReport:
    """``ready``: called once the input is decoded, before the engines are used (the CLI waits
    there for the engines it loads while the first input decodes)."""

    def tell(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)

    tell("decode", 0.0)
    from services.upsampler.finish import finish_file
    from services.upsampler.quality import measure_input, safe_quality_report

    report = ChainReport()
    with tempfile.TemporaryDirectory(prefix="speakup-") as tmp, ThreadPoolExecutor(1) as aside:
        wide, enhanced = enhance_wide(src, Path(tmp), options, report, tell, ready)
        fmt = output_format(src, options.format)
        tags = {"title": options.title or "", "artist": options.artist or ""}
        # the input's half of the quality report on the core mastering leaves free
        input_side = aside.submit(measure_input, src, enhanced, report.input["bandwidth_hz"])
        report.metrics.update(finish_file(
            wide, dst, target_rate_hz=options.sample_rate_hz, preset=options.preset,
            fmt=fmt, bit_depth=options.bit_depth, bitrate_kbps=options.bitrate_kbps, tags=tags,
            video_src=src if fmt.video else None, progress=lambda f: tell("master", f),
            clock=report.clock))
        with report.clock.stage("quality"):
            report.metrics.update(safe_quality_report(
                src, dst, enhanced, bandwidth_in_hz=report.input["bandwidth_hz"],
                input_side=input_side))
    report.metrics["duration_s"] = report.metrics.get("output_duration_s")
    report.metrics["stage_seconds"] = report.clock.rounded()
    return report


def enhance_wide(src: Path, tmp: Path, options: ChainOptions, report: ChainReport,
                 tell: Progress, ready: Callable[[], None] | None = None) -> tuple[Path, Path]:
    """Everything before mastering: ``(the result at 48 kHz — or at the input's own rate where
    it needed no super-resolution, or 16 kHz when asked for —, the enhanced 16 kHz signal)``,
    both under ``tmp``; facts, engines and timings go into ``report``."""
    from services.enhancer import engines as enhance_engines
    from services.enhancer.stage import measure_file
    from services.upsampler.widen import widen

    decoded, enhanced, wide_in, fullband = (
        tmp / n for n in ("in.wav", "enh.wav", "in_wide.wav", "enh_fullband.wav"))
    clock = report.clock
    with clock.stage("decode"):
        info = probe_and_decode_to_wav(src, decoded, target_rate_hz=ENHANCE_RATE_HZ,
                                       limits=DecodeLimits(), wide_wav_path=wide_in,
                                       progress=lambda f: tell("decode", 0.9 * f))
        report.input = _as_dict(info)
        lufs, peak = measure_file(decoded)
        report.metrics.update(input_lufs=lufs, input_true_peak_dbtp=peak,
                              bandwidth_in_hz=info.bandwidth_hz)
        band = plan(sf.info(str(wide_in)).samplerate, info.bandwidth_hz)
        keep_band = band.keep_input_band and options.sample_rate_hz > ENHANCE_RATE_HZ
    tell("decode", 1.0)
    if ready is not None:
        ready()

    with clock.stage("enhance"):
        engine = enhance_engines.get(options.engine)
        process_file(decoded, enhanced,
                     lambda x: engine.enhance(x, ENHANCE_RATE_HZ, options.strength),
                     block_s=options.block_s, overlap_s=0.5, context_s=1.0,
                     progress=lambda f: tell("enhance", f),
                     workers=enhance_engines.block_workers(engine))
    with clock.stage("fullband"):
        if keep_band:
            fullband_file(wide_in, decoded, enhanced, fullband, block_s=options.block_s)
        wide_in.unlink()
    report.engine.update(enhancer=engine.name, enhancer_version=engine.version)

    with clock.stage("upsample"):
        if options.sample_rate_hz == ENHANCE_RATE_HZ:
            result = enhanced
            report.engine.update(upsampler="none")
        else:
            widened = widen(enhanced, fullband if keep_band else None, info.bandwidth_hz,
                            options.upsampler, tmp, block_s=options.block_s,
                            progress=lambda f: tell("upsample", f))
            result = widened.path
            report.engine.update(upsampler=widened.engine, upsampler_version=widened.version)
    return result, enhanced


def output_format(src: Path, name: str) -> OutputFormat:
    """``name`` as a format; ``video``: `src`'s own container (ValueError when it has none)."""
    if name != VIDEO:
        return get_format(name)
    from shared.audio.video import video_container_of

    return resolve_format(name, video_container_of(src))


def _as_dict(info: object) -> dict[str, Any]:
    from services.enhancer.stage import _info_dict

    return _info_dict(info)
