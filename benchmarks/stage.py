"""One stage of the chain on one input, in a fresh process, timed, with its peak memory.

    python -m benchmarks.stage decode   IN.m4a  OUT.wav
    python -m benchmarks.stage enhance  IN.wav  OUT.wav --engine dsp
    python -m benchmarks.stage upsample IN.wav  OUT.wav --engine resample
    python -m benchmarks.stage master   IN.wav  OUT.wav
    python -m benchmarks.stage loudnorm IN.wav  OUT.wav      # FFmpeg's two-pass loudnorm
    python -m benchmarks.stage dfn3     IN.m4a  OUT.wav      # DeepFilterNet3 alone, 48 kHz
    python -m benchmarks.stage chain    IN.m4a  OUT.wav --engine auto --upsampler auto
    python -m benchmarks.stage bandsplit IN.m4a OUT.wav

`bandsplit` is the bandwidth-aware chain's own numerics without the engines: decode at 16 kHz and
at the input's own rate, the input's band above 7.4 kHz kept with the gains of an enhancer that
changed nothing (the 16 kHz decode itself), `resample` above the measured cutoff, joined.

Runs exactly what the workers run (the same functions, block sizes and engines) and prints one
JSON line: seconds, audio seconds, real-time factor, RSS after imports and peak RSS (MiB) — the
difference is what the stage itself needed. Also: `generate` writes a phone-like input (AAC in
m4a, 48 kHz mono, streamed, so a 2-hour file costs no memory).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ENHANCE_RATE_HZ = 16_000
ENGINE_RATE_HZ = 48_000
BLOCK_S = 30.0  # the workers' default `enhance_block_s`


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(dst: Path, duration_s: float, rate_hz: int = 48_000, seed: int = 0) -> None:
    """Speech-like harmonics with syllable envelope, room-ish noise and hum, as AAC 64 kb/s."""
    import av

    rng = np.random.default_rng(seed)
    block = rate_hz * 10
    with av.open(str(dst), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=rate_hz)
        stream.layout = "mono"
        stream.bit_rate = 64_000
        written, phase = 0, 0.0
        total = int(duration_s * rate_hz)
        while written < total:
            n = min(block, total - written)
            t = (written + np.arange(n)) / rate_hz
            f0 = 110 + 30 * np.sin(2 * np.pi * 0.31 * t) + 15 * np.sin(2 * np.pi * 1.7 * t)
            ph = phase + 2 * np.pi * np.cumsum(f0) / rate_hz
            phase = float(ph[-1])
            voiced = sum(np.sin(k * ph) * np.exp(-k / 8) for k in range(1, 25))
            envelope = np.clip(np.sin(2 * np.pi * 3.3 * t) * np.sin(2 * np.pi * 0.23 * t), 0, 1)
            noise = 0.02 * rng.standard_normal(n) + 0.01 * np.sin(2 * np.pi * 50 * t)
            audio = (0.15 * voiced * envelope + noise).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(audio[None, :], format="flt", layout="mono")
            frame.sample_rate = rate_hz
            frame.pts = written
            frame.time_base = Fraction(1, rate_hz)
            for packet in stream.encode(frame):
                out.mux(packet)
            written += n
        for packet in stream.encode(None):
            out.mux(packet)


def run_stage(stage: str, src: Path, dst: Path, engine: str, upsampler: str,
              threads: int) -> dict[str, object]:
    import sys

    import soundfile as sf

    from shared.audio.blocks import process_file
    from shared.audio.decode import DecodeLimits, probe_and_decode_to_wav

    fn = None
    extra: dict[str, object] = {}
    if stage == "decode":
        def fn() -> None:
            probe_and_decode_to_wav(src, dst, target_rate_hz=ENHANCE_RATE_HZ, limits=DecodeLimits())
    elif stage == "enhance":
        from services.enhancer import engines

        model = engines.get(engine)
        model.enhance(np.zeros(ENHANCE_RATE_HZ, np.float32), ENHANCE_RATE_HZ, 1.0)  # load, warm

        def fn() -> None:
            process_file(src, dst, lambda x: model.enhance(x, ENHANCE_RATE_HZ, 1.0),
                         block_s=BLOCK_S, overlap_s=0.5, context_s=1.0,
                         workers=engines.block_workers(model))
    elif stage == "upsample":
        from services.upsampler import engines as up_engines

        up = up_engines.get(upsampler)
        up.upsample(np.zeros(ENHANCE_RATE_HZ, np.float32), ENHANCE_RATE_HZ, ENGINE_RATE_HZ)

        def fn() -> None:
            process_file(src, dst, lambda x: up.upsample(x, ENHANCE_RATE_HZ, ENGINE_RATE_HZ),
                         ratio=ENGINE_RATE_HZ // ENHANCE_RATE_HZ, block_s=BLOCK_S, overlap_s=0.25,
                         context_s=0.5)
    elif stage == "master":
        from services.upsampler.finish import finish_file

        def fn() -> None:
            metrics = finish_file(src, dst, target_rate_hz=ENGINE_RATE_HZ, preset="podcast",
                                  fmt="wav", bit_depth=24)
            extra.update(output_lufs=metrics["output_lufs"],
                         output_true_peak_dbtp=metrics["output_true_peak_dbtp"])
    elif stage == "loudnorm":
        from benchmarks.loudnorm import loudnorm_file

        def fn() -> None:
            result = loudnorm_file(src, dst, -16.0, -1.0)
            extra.update(output_lufs=result["output_lufs"],
                         output_true_peak_dbtp=result["output_true_peak_dbtp"])
            extra["measure_s"] = result["seconds"]  # the measurement after is not timed
    elif stage == "dfn3":
        from services.enhancer import engines

        model = engines.get("deepfilternet")

        def fn() -> None:
            with tempfile.TemporaryDirectory(prefix="speakup-bench-dfn3-") as tmp:
                decoded = Path(tmp, "in48k.wav")
                probe_and_decode_to_wav(src, decoded, target_rate_hz=ENGINE_RATE_HZ,
                                        limits=DecodeLimits())
                process_file(decoded, dst, lambda x: model.enhance(x, ENGINE_RATE_HZ, 1.0),
                             block_s=BLOCK_S, overlap_s=0.5, context_s=1.0,
                             workers=engines.block_workers(model))
    elif stage == "chain":
        from services.enhancer import engines  # noqa: I001 - warm both registries first
        from services.upsampler import engines as up_engines
        from speakup.pipeline import ChainOptions, enhance_file

        engines.get(engine), up_engines.get(upsampler)

        def fn() -> None:
            report = enhance_file(src, dst, ChainOptions(engine=engine, upsampler=upsampler,
                                                         block_s=BLOCK_S))
            extra["stage_seconds"] = report.metrics["stage_seconds"]
            extra["engines"] = report.engine
    elif stage == "bandsplit":
        def fn() -> None:
            bandsplit(src, dst)
    if fn is None:
        raise SystemExit(f"unknown stage {stage}")
    if "torch" in sys.modules:  # only where an engine brought it in
        sys.modules["torch"].set_num_threads(threads)
    import_rss = rss_mb()
    started = time.perf_counter()
    fn()
    seconds = float(extra.pop("measure_s", time.perf_counter() - started))
    audio_s = sf.info(str(dst)).duration
    return {"stage": stage, "seconds": round(seconds, 3), "audio_s": round(audio_s, 2),
            "rtf": round(seconds / max(audio_s, 1e-9), 5),
            "rss_after_imports_mb": round(import_rss), "peak_rss_mb": round(peak_rss_mb()),
            **extra}


def bandsplit(src: Path, dst: Path) -> None:
    import tempfile

    import soundfile as sf

    from services.upsampler.widen import widen
    from shared.audio.bandsplit import fullband_file, plan
    from shared.audio.decode import DecodeLimits, probe_and_decode_to_wav

    with tempfile.TemporaryDirectory(prefix="speakup-bench-bandsplit-") as tmp:
        narrow, wide, full = Path(tmp, "in16k.wav"), Path(tmp, "wide.wav"), Path(tmp, "full.wav")
        info = probe_and_decode_to_wav(src, narrow, target_rate_hz=ENHANCE_RATE_HZ,
                                       limits=DecodeLimits(), wide_wav_path=wide)
        if not plan(sf.info(str(wide)).samplerate, info.bandwidth_hz).keep_input_band:
            raise SystemExit(f"the input holds no band to keep ({info.bandwidth_hz} Hz)")
        fullband_file(wide, narrow, narrow, full, block_s=BLOCK_S)
        wide.unlink()
        result = widen(narrow, full, info.bandwidth_hz, "resample", Path(tmp), block_s=BLOCK_S)
        result.path.replace(dst)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", choices=["decode", "enhance", "upsample", "master", "loudnorm",
                                          "dfn3", "chain", "bandsplit", "generate"])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path, nargs="?")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--upsampler", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration-s", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.stage == "generate":
        generate(args.src, args.duration_s)
        return
    print(json.dumps(run_stage(args.stage, args.src, args.dst, args.engine, args.upsampler,
                               args.threads)))


if __name__ == "__main__":
    main()
