"""speakup — studio sound from phone recordings.

  speakup serve                      run the whole service on this machine (what `make run` does)
  speakup enhance IN -o OUT          run the whole chain in-process on one file
  speakup worker enhance|upsample|cleanup|beat   run one worker (distributed deployments)
  speakup eval [--data DIR]          the evaluation harness

Exit codes: 0 success, 1 processing failed, 2 bad usage or input rejected.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="speakup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run api + workers + beat locally (embedded default)")
    serve.add_argument("--port", type=int, default=int(os.environ.get("SPEAKUP_PORT", "8000")))
    serve.add_argument("--state-dir", type=Path, default=Path("var"))

    enhance = sub.add_parser("enhance", help="enhance one file in-process")
    enhance.add_argument("input", type=Path)
    enhance.add_argument("-o", "--output", type=Path, required=True)
    enhance.add_argument("--engine", default="auto", help="enhancement engine (auto, dsp, ...)")
    enhance.add_argument("--upsampler", default="auto", help="auto, unet, resample")
    enhance.add_argument("--preset", default="podcast",
                         choices=["podcast", "broadcast", "video", "none"])
    enhance.add_argument("--strength", type=float, default=1.0)
    enhance.add_argument("--sample-rate", type=int, default=48000, choices=[48000, 44100, 16000])
    enhance.add_argument("--format", choices=["wav", "flac"], default=None)

    worker = sub.add_parser("worker", help="run one Celery worker")
    worker.add_argument("kind", choices=["enhance", "upsample", "cleanup", "beat"])

    ev = sub.add_parser("eval", help="the evaluation harness (see `speakup eval --help`)",
                        add_help=False)
    ev.add_argument("rest", nargs=argparse.REMAINDER)

    args = parser.parse_args(argv)
    if args.command == "serve":
        from speakup.serve import serve as run_serve

        return run_serve(args.port, args.state_dir)
    if args.command == "enhance":
        return _enhance(args)
    if args.command == "worker":
        return _worker(args.kind)
    if args.command == "eval":
        from evaluation.cli import main as eval_main

        return eval_main(args.rest)
    return 2


def _enhance(args: argparse.Namespace) -> int:
    from shared.audio.decode import AudioRejected
    from speakup.pipeline import ChainOptions, enhance_file

    if not args.input.is_file():
        print(f"speakup: no such file: {args.input}", file=sys.stderr)
        return 2
    fmt = args.format or ("flac" if args.output.suffix.lower() == ".flac" else "wav")
    options = ChainOptions(engine=args.engine, upsampler=args.upsampler, preset=args.preset,
                           strength=args.strength, sample_rate_hz=args.sample_rate, format=fmt)
    try:
        report = enhance_file(args.input, args.output, options)
    except AudioRejected as exc:
        print(f"speakup: {args.input}: {exc.message} ({exc.code})", file=sys.stderr)
        return 2
    except LookupError as exc:
        print(f"speakup: {exc}", file=sys.stderr)
        return 2
    m = report.metrics
    print(f"{args.input} → {args.output}: {m.get('duration_s')} s, "
          f"{m.get('input_lufs')} → {m.get('output_lufs')} LUFS, "
          f"engine {report.engine.get('enhancer')} + {report.engine.get('upsampler')}, "
          f"{sum(report.seconds.values()):.1f} s")
    return 0


def _worker(kind: str) -> int:
    from celery.bin.celery import main as celery_main

    module = {"enhance": "services.enhancer.worker", "upsample": "services.upsampler.worker",
              "cleanup": "services.cleanup.worker", "beat": "services.cleanup.worker"}[kind]
    queue = {"enhance": "enhance", "upsample": "upsample", "cleanup": "cleanup"}.get(kind)
    argv = ["celery", "-A", module, "beat"] if kind == "beat" else [
        "celery", "-A", module, "worker", "-Q", str(queue), "--prefetch-multiplier", "1"]
    sys.argv = argv
    celery_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
