"""What `speakup enhance` and `speakup submit` share: exit codes, the job options as flags,
which files count as recordings, and where results go."""

from __future__ import annotations

import argparse
from enum import IntEnum
from pathlib import Path
from typing import Any


class Exit(IntEnum):
    """Exit statuses scripts can test (documented in `speakup --help`)."""

    OK = 0
    FAILED = 1  # processing failed for at least one file
    USAGE = 2  # bad arguments, a missing input, an unknown engine (argparse uses 2 too)
    REJECTED = 3  # at least one input was not a recording we can read; the rest succeeded
    UNREACHABLE = 4  # the service could not be reached (submit)
    INTERRUPTED = 130  # Ctrl-C; `speakup submit` resumes when run again


AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus",
                            ".webm", ".mp4", ".mov", ".mkv"})
RESULT_TAG = ".enhanced"
PRESETS = ("podcast", "broadcast", "video", "none")


def add_job_options(parser: argparse.ArgumentParser) -> None:
    """The job options of the REST contract, as flags (the same names, the same defaults)."""
    group = parser.add_argument_group("how it should sound")
    group.add_argument("--preset", choices=PRESETS, default="podcast",
                       help="loudness target: podcast −16 LUFS, broadcast −23 (EBU R128), "
                            "video −14, none (default: %(default)s)")
    group.add_argument("--strength", type=_fraction, default=1.0, metavar="0..1",
                       help="how much enhancement to apply (default: %(default)s)")
    group.add_argument("--sample-rate", type=int, choices=(48000, 44100, 16000), default=48000,
                       metavar="HZ", help="output rate: 48000, 44100 or 16000 "
                                          "(default: %(default)s)")
    group.add_argument("--format", choices=("wav", "flac"), default=None,
                       help="output format (default: from -o's suffix, else wav)")
    group.add_argument("--bit-depth", type=int, choices=(16, 24), default=24,
                       help="output bit depth (default: %(default)s)")
    group.add_argument("--engine", default="auto", metavar="NAME",
                       help="enhancer: auto, hifigan, dsp, rnnoise, noisereduce, passthrough "
                            "(default: auto = the best one installed)")
    group.add_argument("--upsampler", default="auto", metavar="NAME",
                       help="bandwidth restoration: auto, unet, resample (default: auto)")


def job_options(args: argparse.Namespace, fmt: str) -> dict[str, Any]:
    return {"preset": args.preset, "strength": args.strength, "sample_rate_hz": args.sample_rate,
            "format": fmt, "bit_depth": args.bit_depth, "engine": args.engine,
            "upsampler": args.upsampler}


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def is_result(path: Path) -> bool:
    """Our own outputs (`x.enhanced.wav`) are never inputs again."""
    return path.stem.endswith(RESULT_TAG)


def find_recordings(paths: list[Path], recursive: bool = False) -> list[Path]:
    """Files as given; directories expanded to the recordings in them (sorted)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found += sorted(p for p in path.glob(pattern) if p.is_file()
                            and p.suffix.lower() in AUDIO_SUFFIXES and not is_result(p)
                            and not p.name.startswith("."))
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def beside(src: Path, fmt: str) -> Path:
    """`talk.m4a` → `talk.enhanced.wav`, in the same folder."""
    return src.with_name(f"{src.stem}{RESULT_TAG}.{fmt}")


def plan_outputs(inputs: list[Path], output: Path | None,
                 fmt: str | None) -> list[tuple[Path, str]]:
    """(output path, format) per input. `output` is a file for one input, else a folder;
    without it, results go beside their inputs. Two inputs never share an output."""
    single_file = (output is not None and len(inputs) == 1 and not output.is_dir()
                   and not str(output).endswith(("/", "\\")))
    if single_file:
        assert output is not None
        chosen = fmt or ("flac" if output.suffix.lower() == ".flac" else "wav")
        return [(output, chosen)]
    chosen = fmt or "wav"
    plans: list[tuple[Path, str]] = []
    taken: set[Path] = set(inputs)
    for src in inputs:
        dst = beside(src, chosen) if output is None else output / f"{src.stem}.{chosen}"
        if dst in taken:  # same stem twice (talk.m4a, talk.wav), or it would overwrite an input
            dst = dst.with_name(f"{src.stem}-{src.suffix.lstrip('.').lower()}.{chosen}")
        taken.add(dst)
        plans.append((dst, chosen))
    return plans
