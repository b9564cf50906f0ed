"""The whole chain in one process, for `speakup enhance`: decode → enhance → upsample → master →
encode. The same engines, block streaming and mastering as the workers, without Redis or S3."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf

from shared.audio.blocks import process_file
from shared.audio.decode import DecodeLimits, probe_and_decode_to_wav

ENHANCE_RATE_HZ = 16_000
ENGINE_RATE_HZ = 48_000


@dataclass(frozen=True)
class ChainOptions:
    engine: str = "auto"
    upsampler: str = "auto"
    preset: str = "podcast"
    strength: float = 1.0
    sample_rate_hz: int = 48_000
    format: str = "wav"
    bit_depth: int = 24
    block_s: float = 30.0


@dataclass
class ChainReport:
    input: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


Progress = Callable[[str, float], None]


def enhance_file(src: Path, dst: Path, options: ChainOptions,
                 progress: Progress | None = None) -> ChainReport:
    from services.enhancer import engines as enhance_engines
    from services.enhancer.stage import measure_file
    from services.upsampler import engines as upsample_engines
    from services.upsampler.finish import finish_file

    def tell(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)

    report = ChainReport()
    with tempfile.TemporaryDirectory(prefix="speakup-") as tmp:
        decoded, enhanced, wide = (Path(tmp, n) for n in ("in.wav", "enh.wav", "wide.wav"))
        t0 = time.perf_counter()
        info = probe_and_decode_to_wav(src, decoded, target_rate_hz=ENHANCE_RATE_HZ,
                                       limits=DecodeLimits())
        report.input = _as_dict(info)
        lufs, peak = measure_file(decoded)
        report.metrics.update(input_lufs=lufs, input_true_peak_dbtp=peak)
        report.seconds["decode"] = time.perf_counter() - t0
        tell("decode", 1.0)

        t0 = time.perf_counter()
        engine = enhance_engines.get(options.engine)
        process_file(decoded, enhanced,
                     lambda x: engine.enhance(x, ENHANCE_RATE_HZ, options.strength),
                     block_s=options.block_s, overlap_s=0.5, context_s=1.0,
                     progress=lambda f: tell("enhance", f))
        report.engine.update(enhancer=engine.name, enhancer_version=engine.version)
        report.seconds["enhance"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        if options.sample_rate_hz == ENHANCE_RATE_HZ:
            wide = enhanced
            report.engine.update(upsampler="none")
        else:
            up = upsample_engines.get(options.upsampler)
            process_file(enhanced, wide, lambda x: up.upsample(x, ENHANCE_RATE_HZ, ENGINE_RATE_HZ),
                         ratio=ENGINE_RATE_HZ // ENHANCE_RATE_HZ, block_s=options.block_s,
                         overlap_s=0.25, context_s=0.5, progress=lambda f: tell("upsample", f))
            report.engine.update(upsampler=up.name, upsampler_version=up.version)
        report.seconds["upsample"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        report.metrics.update(finish_file(
            wide, dst, target_rate_hz=options.sample_rate_hz, preset=options.preset,
            fmt=options.format, bit_depth=options.bit_depth,
            progress=lambda f: tell("master", f)))
        report.seconds["master"] = time.perf_counter() - t0
    report.metrics["duration_s"] = round(sf.info(str(dst)).duration, 3)
    return report


def _as_dict(info: object) -> dict[str, Any]:
    from services.enhancer.stage import _info_dict

    return _info_dict(info)
