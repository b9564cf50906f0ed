"""What `speakup enhance` and `speakup submit` share: exit codes, the job options as flags,
which files count as recordings, and where results go."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import Any

from shared.audio.formats import FORMATS, VIDEO, VIDEO_FORMATS


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
FORMAT_CHOICES = (*FORMATS, VIDEO)


class UsageError(Exception):
    """Bad arguments found before any work (exit status 2)."""


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
    group.add_argument("--format", choices=FORMAT_CHOICES, default=None, metavar="FORMAT",
                       help="wav, flac, mp3, m4a (AAC), opus; video (the input's own mp4, mov, "
                            "mkv or webm, its picture copied) or one of those containers "
                            "(default: from -o's suffix, else wav)")
    group.add_argument("--bit-depth", type=int, choices=(16, 24), default=24,
                       help="wav/flac bit depth (default: %(default)s)")
    group.add_argument("--bitrate", type=_kbps, default=None, metavar="KBPS",
                       help="lossy audio bit rate, 32-320 (mp3: constant; default: mp3 VBR "
                            "-V2, AAC 128, Opus 96)")
    group.add_argument("--title", default=None, help="title tag, where the format has one")
    group.add_argument("--artist", default=None, help="artist tag, where the format has one")
    group.add_argument("--engine", default="auto", metavar="NAME",
                       help="enhancer: auto, erbnet, deepfilternet, dsp, rnnoise, noisereduce, "
                            "hifigan, passthrough (default: auto = the best measured one "
                            "installed)")
    group.add_argument("--upsampler", default="auto", metavar="NAME",
                       help="bandwidth restoration: auto, unet, resample (default: auto)")


def job_options(args: argparse.Namespace, fmt: str) -> dict[str, Any]:
    options = {"preset": args.preset, "strength": args.strength,
               "sample_rate_hz": args.sample_rate, "format": fmt, "bit_depth": args.bit_depth,
               "engine": args.engine, "upsampler": args.upsampler}
    extra = {"bitrate_kbps": args.bitrate, "title": args.title, "artist": args.artist}
    return {**options, **{k: v for k, v in extra.items() if v is not None}}


def _kbps(text: str) -> int:
    value = int(text)
    if not 32 <= value <= 320:
        raise argparse.ArgumentTypeError("must be between 32 and 320")
    return value


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


def format_of_suffix(path: Path) -> str:
    """The output format an output file's suffix names; UsageError for one SpeakUp cannot write
    (never a file whose contents disagree with its name)."""
    suffix = path.suffix.lower().lstrip(".")
    if not suffix:
        return "wav"
    if suffix not in FORMATS:
        raise UsageError(f"{path.name}: SpeakUp cannot write .{suffix} files; it writes "
                         + ", ".join(f".{name}" for name in FORMATS))
    return suffix


ContainerOf = Callable[[Path], "str | None"]


def video_format_for(src: Path, fmt: str, container_of: ContainerOf | None = None) -> str:
    """The concrete video format for `src` (``video``: its own container); UsageError when it
    has no picture to keep or the container cannot hold it as it is. An input that cannot be
    read at all keeps ``fmt``: it is reported as rejected when its turn comes."""
    from shared.audio.errors import AudioRejected
    from shared.audio.formats import get_format
    from shared.audio.video import check_remuxable, video_container_of

    try:
        container = (container_of or video_container_of)(src)
    except AudioRejected:
        return fmt
    if container is None:
        raise UsageError(f"{src.name} has no video to keep in a .{fmt} file; ask for an audio "
                         "format (e.g. .m4a for AAC)")
    chosen = container if fmt == VIDEO else fmt
    if container_of is None:
        try:
            check_remuxable(src, get_format(chosen))
        except ValueError as exc:
            raise UsageError(f"{src.name}: its video cannot be copied into .{chosen} as it is "
                             f"({exc}); use .{container} or --format video") from None
    return chosen


def plan_outputs(inputs: list[Path], output: Path | None, fmt: str | None,
                 container_of: ContainerOf | None = None) -> list[tuple[Path, str]]:
    """(output path, format) per input. `output` is a file for one input, else a folder;
    without it, results go beside their inputs. Two inputs never share an output. Raises
    UsageError for a suffix or format that cannot be honoured."""
    single_file = (output is not None and len(inputs) == 1 and not output.is_dir()
                   and not str(output).endswith(("/", "\\")))
    if single_file:
        assert output is not None
        named = format_of_suffix(output)
        if fmt is not None and fmt != named and not (fmt == VIDEO and named in VIDEO_FORMATS):
            raise UsageError(f"{output.name} is a .{named} name but --format says {fmt}")
        if named in VIDEO_FORMATS:
            named = video_format_for(inputs[0], named, container_of)
        return [(output, named)]
    chosen = fmt or "wav"
    plans: list[tuple[Path, str]] = []
    taken: set[Path] = set(inputs)
    for src in inputs:
        this = chosen
        if chosen == VIDEO or chosen in VIDEO_FORMATS:
            this = video_format_for(src, chosen, container_of)
            if this == VIDEO:  # unreadable: rejected later, named after its own suffix
                this = src.suffix.lower().lstrip(".") or "mp4"
        dst = beside(src, this) if output is None else output / f"{src.stem}.{this}"
        if dst in taken:  # same stem twice (talk.m4a, talk.wav), or it would overwrite an input
            dst = dst.with_name(f"{src.stem}-{src.suffix.lstrip('.').lower()}.{this}")
        taken.add(dst)
        plans.append((dst, this))
    return plans
