"""The `speakup` command: one entry point for people, scripts and deployments."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from speakup.cli_common import Exit, add_job_options

MANUAL = """\
NAME
  speakup — studio sound from phone recordings

SYNOPSIS
  speakup enhance IN... [-o OUT|DIR] [options]
  speakup submit DIR [--api URL] [--concurrency N] [options]
  speakup serve [--port PORT] [--state-dir DIR]
  speakup worker enhance|upsample|cleanup|beat
  speakup eval [ARGS...]

DESCRIPTION
  SpeakUp removes noise and echo from speech, restores the bandwidth a phone cut off (16 kHz →
  48 kHz) and masters the loudness for where it will be published (podcast −16 LUFS, broadcast
  −23, video −14, true peak ≤ −1 dBTP). Inputs: wav (8/16/24/32-bit, float), flac, mp3,
  m4a/aac, ogg/vorbis, opus, webm and the sound of mp4/mov/mkv videos. Outputs: WAV or FLAC
  (16- or 24-bit), MP3, M4A (AAC) or Opus at 48, 44.1 or 16 kHz (Opus: 48), or the video itself
  (mp4, mov, mkv, webm: picture copied untouched, sound enhanced). Every result is measured:
  loudness, true peak, and DNSMOS (SIG, BAK, OVRL) of the input and the output.

COMMANDS
  enhance   run the whole chain in this process, file after file (no service needed)
  submit    send a folder of recordings to a running SpeakUp service; resumable
  serve     run the service on this machine: api, workers, beat, Redis, local storage
  worker    run one Celery worker of a distributed deployment
  eval      the evaluation harness (`speakup eval --help`)
  Each command has its own page: `speakup COMMAND --help`.

EXIT STATUS
  0    every file succeeded
  1    processing failed for at least one file (or submit left jobs unfinished)
  2    usage error: bad arguments, a missing input, an unknown engine
  3    at least one input was rejected (not a recording, too long, silent…); the rest succeeded
  4    the service could not be reached (submit)
  130  interrupted (Ctrl-C); `speakup submit` resumes where it stopped when run again
  Status 1 wins over 3 when both happened.

ENVIRONMENT
  SPEAKUP_API_URL   default --api for submit (default http://127.0.0.1:8000)
  SPEAKUP_PORT      default --port for serve (default 8000)
  SPEAKUP_*         service settings for serve and worker (see README: Configuration)

EXAMPLES
  speakup enhance memo.m4a -o memo.wav
  speakup enhance interviews/ -o cleaned/ --preset broadcast --format flac --report report.png
  speakup submit back-catalogue/ --api https://speakup.example.org --concurrency 8
"""

ENHANCE_EPILOG = """\
Outputs: with one input, -o is the output file and its suffix picks the format: .wav, .flac,
.mp3, .m4a, .opus, or .mp4/.mov/.mkv/.webm for a video input (its picture copied untouched). A
suffix SpeakUp cannot write, or one that disagrees with --format, is a usage error (status 2).
With several inputs, -o is a folder (created) and --format picks (video: each input's own
container). Without -o, each result lands beside its input as NAME.enhanced.wav (or the format's
suffix). A folder given as an input stands for the recordings in it.

The table on stdout has, per file: duration, integrated loudness in → out (LUFS), output true
peak (dBTP, of the delivered file decoded again), DNSMOS OVRL in → out, the engines that ran,
wall time and speed (× real time). --json prints every measurement (dnsmos_sig_in ...
dnsmos_ovrl_out, bandwidth_in_hz/bandwidth_out_hz, ...) as JSON. Progress bars go to stderr.

examples:
  speakup enhance memo.m4a -o memo.wav
  speakup enhance memo.m4a -o episode.mp3 --title "Episode 12" --artist "Ada"
  speakup enhance vlog.mp4 -o vlog-clean.mp4 --preset video
  speakup enhance take1.wav take2.mp3 -o cleaned/ --preset video --sample-rate 44100
  speakup enhance phone-calls/ --engine dsp --report report.png
"""

SUBMIT_EPILOG = """\
Every recording in DIR becomes a job on the service at --api (create → upload straight to
storage → submit → wait → download → erase). At most --concurrency jobs are in flight. Transient
failures (connection lost, 429, 5xx, a worker lost) are retried with backoff, up to --retries
times. Results land beside their inputs as NAME.enhanced.wav (or the format's suffix).

Progress is saved after every step in DIR/.speakup-submit.json (mode 0600: it holds the job
tokens). Run the same command again and it resumes: finished files are skipped, jobs still on
the server are waited for, interrupted uploads start again. A file that changed, or other
options, starts afresh. Inputs the service rejected are not retried unless --retry-failed.

examples:
  speakup submit episodes/ --api http://gpu-box:8000 --concurrency 4 --preset podcast
  speakup submit episodes/ --api http://gpu-box:8000      # again: resumes
"""


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="speakup", description=MANUAL, formatter_class=raw)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    enhance = sub.add_parser("enhance", help="enhance files in this process", epilog=ENHANCE_EPILOG,
                             formatter_class=raw, description="Run the whole chain on each input.")
    enhance.add_argument("inputs", nargs="+", type=Path, metavar="IN",
                         help="recordings, or folders of recordings")
    enhance.add_argument("-o", "--output", type=Path, metavar="OUT|DIR",
                         help="output file (one input) or folder (several)")
    enhance.add_argument("-r", "--recursive", action="store_true",
                         help="look for recordings in subfolders of folder inputs too")
    enhance.add_argument("--report", type=Path, metavar="PNG",
                         help="also write before/after waveforms and spectrograms to PNG")
    enhance.add_argument("--json", action="store_true", help="print the summary as JSON")
    enhance.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_job_options(enhance)

    submit = sub.add_parser("submit", help="send a folder to a running service",
                            epilog=SUBMIT_EPILOG, formatter_class=raw,
                            description="Enhance a folder of recordings on a SpeakUp service.")
    submit.add_argument("directory", type=Path, metavar="DIR")
    submit.add_argument("--api", default=os.environ.get("SPEAKUP_API_URL",
                                                        "http://127.0.0.1:8000"),
                        metavar="URL", help="the service (default: $SPEAKUP_API_URL or "
                                            "%(default)s)")
    submit.add_argument("-j", "--concurrency", type=int, default=4, metavar="N",
                        help="jobs in flight at once (default: %(default)s)")
    submit.add_argument("--retries", type=int, default=3, metavar="N",
                        help="retries per file on transient failures (default: %(default)s)")
    submit.add_argument("--timeout", type=float, default=6 * 3600, metavar="SECONDS",
                        help="give up waiting for one job after this long (default: 6 h)")
    submit.add_argument("--state", type=Path, metavar="FILE",
                        help="state file (default: DIR/.speakup-submit.json)")
    submit.add_argument("-r", "--recursive", action="store_true", help="include subfolders")
    submit.add_argument("--retry-failed", action="store_true",
                        help="try inputs the service rejected in an earlier run again")
    submit.add_argument("--keep-on-server", action="store_true",
                        help="do not erase each job right after its download (the service "
                             "still erases it after its download grace period)")
    submit.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_job_options(submit)

    serve = sub.add_parser("serve", help="run the whole service on this machine",
                           description="api + enhancer, upsampler and cleanup workers + beat, a "
                                       "redis-server child with AOF, local-disk storage.")
    serve.add_argument("--port", type=int, default=int(os.environ.get("SPEAKUP_PORT", "8000")))
    serve.add_argument("--state-dir", type=Path, default=Path("var"),
                       help="Redis data, stored audio, logs (default: %(default)s)")

    worker = sub.add_parser("worker", help="run one Celery worker (distributed deployments)",
                            description="Settings come from SPEAKUP_* environment variables.")
    worker.add_argument("kind", choices=["enhance", "upsample", "cleanup", "beat"])

    sub.add_parser("eval", help="the evaluation harness (see `speakup eval --help`)",
                   add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "eval":  # everything after `eval` belongs to the harness
        from evaluation.cli import main as eval_main

        return int(eval_main(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "enhance":
            from speakup import cli_enhance

            return cli_enhance.run(args)
        if args.command == "submit":
            from speakup import submit

            return submit.run(args)
        if args.command == "serve":
            from speakup.serve import serve as run_serve

            return run_serve(args.port, args.state_dir)
        if args.command == "worker":
            return _worker(args.kind)
    except KeyboardInterrupt:
        print("speakup: interrupted", file=sys.stderr)
        return Exit.INTERRUPTED
    return Exit.USAGE


def _worker(kind: str) -> int:
    from celery.bin.celery import main as celery_main

    module = {"enhance": "services.enhancer.worker", "upsample": "services.upsampler.worker",
              "cleanup": "services.cleanup.worker", "beat": "services.cleanup.worker"}[kind]
    queue = {"enhance": "enhance", "upsample": "upsample", "cleanup": "cleanup"}.get(kind)
    sys.argv = ["celery", "-A", module, "beat"] if kind == "beat" else [
        "celery", "-A", module, "worker", "-Q", str(queue), "--prefetch-multiplier", "1"]
    celery_main()
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
