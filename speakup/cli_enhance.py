"""`speakup enhance IN... [-o OUT|DIR]`: the whole chain in this process, file after file, a
progress bar per file, a summary table, and a PNG report on request."""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from speakup.cli_common import Exit, UsageError, find_recordings, plan_outputs

# Share of the wall time each stage takes on CPU with the DSP engine (what the bar advances by).
STAGE_WEIGHTS = {"decode": 0.05, "enhance": 0.6, "upsample": 0.2, "master": 0.15}
STAGE_WORDS = {"decode": "reading", "enhance": "enhancing", "upsample": "restoring band",
               "master": "mastering"}


@dataclass
class Outcome:
    src: Path
    dst: Path
    status: str = "waiting"  # ok, rejected, failed
    seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, str] = field(default_factory=dict)
    error: str = ""
    code: str = ""

    def row(self) -> dict[str, Any]:
        return {"input": str(self.src), "output": str(self.dst), "status": self.status,
                "seconds": round(self.seconds, 2), "metrics": self.metrics, "engine": self.engine,
                "error": self.error or None, "code": self.code or None}


def _overall(stage: str, fraction: float) -> float:
    done = 0.0
    for name, weight in STAGE_WEIGHTS.items():
        if name == stage:
            return done + weight * min(max(fraction, 0.0), 1.0)
        done += weight
    return done


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False)
    # A table piped to a file or a CI log is not squeezed into 80 columns.
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 132)
    inputs = find_recordings(args.inputs, recursive=args.recursive)
    missing = [p for p in inputs if not p.is_file()]
    if missing or not inputs:
        err.print(f"speakup enhance: no such file: {', '.join(map(str, missing))}" if missing
                  else "speakup enhance: no recordings found in the given folders")
        return Exit.USAGE
    if args.output is not None and len(inputs) > 1:
        args.output.mkdir(parents=True, exist_ok=True)
    try:
        plans = plan_outputs(inputs, args.output, args.format)
    except UsageError as exc:
        err.print(f"speakup enhance: {exc}")
        return Exit.USAGE
    # the engines load (torch, TensorFlow: seconds) while the first input decodes; an unknown
    # name is still a usage error before anything is written. The decoding side imports its
    # modules first: two threads importing the same package at once can fail (CPython 3.11
    # raised KeyError: 'scipy' in CI)
    import_decoding_side()
    check = ThreadPoolExecutor(1, thread_name_prefix="engines").submit(_check_engines, args)

    def engines_ready() -> None:
        if (usage := check.result()) is not None:
            raise UsageError(usage)

    outcomes = [Outcome(src, dst) for src, (dst, _) in zip(inputs, plans, strict=True)]
    progress = Progress(TextColumn("{task.description}", style="bold"), BarColumn(),
                        TaskProgressColumn(), TextColumn("{task.fields[stage]}"),
                        TimeElapsedColumn(), console=err, disable=args.quiet)
    try:
        _run_all(outcomes, plans, args, progress, engines_ready)
    except UsageError as exc:
        err.print(f"speakup enhance: {exc}")
        return Exit.USAGE
    if args.json:
        out.print_json(json.dumps([o.row() for o in outcomes]))
    else:
        out.print(summary_table(outcomes))
    if args.report is not None:
        done = [(o.src, o.dst, o.metrics) for o in outcomes if o.status == "ok"]
        if done:
            from speakup.report import write_report

            write_report(done, args.report)
            err.print(f"report: {args.report}")
    return _exit_code(outcomes)


def _run_all(outcomes: list[Outcome], plans: list[Any], args: argparse.Namespace,
             progress: Progress, engines_ready: Any) -> None:
    from speakup.pipeline import ChainOptions

    with progress:
        tasks = [progress.add_task(o.src.name, total=1.0, stage="waiting", start=False)
                 for o in outcomes]
        for outcome, task, (_, fmt) in zip(outcomes, tasks, plans, strict=True):
            options = ChainOptions(engine=args.engine, upsampler=args.upsampler,
                                   preset=args.preset, strength=args.strength,
                                   sample_rate_hz=args.sample_rate, format=fmt,
                                   bit_depth=args.bit_depth, bitrate_kbps=args.bitrate,
                                   title=args.title, artist=args.artist)
            progress.start_task(task)
            _enhance_one(outcome, options, lambda s, f, t=task: progress.update(
                t, completed=_overall(s, f), stage=STAGE_WORDS.get(s, s)), engines_ready)
            progress.update(task, completed=1.0 if outcome.status == "ok" else
                            progress.tasks[task].completed, stage=_final_words(outcome))
            progress.stop_task(task)
    engines_ready()  # an unknown engine is a usage error even when no input decoded


def _enhance_one(outcome: Outcome, options: Any, progress: Any,
                 ready: Any = None) -> None:
    from shared.audio.decode import AudioRejected
    from speakup.pipeline import enhance_file

    started = time.perf_counter()
    outcome.dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        report = enhance_file(outcome.src, outcome.dst, options, progress=progress, ready=ready)
    except UsageError:
        raise
    except AudioRejected as exc:
        outcome.status, outcome.code, outcome.error = "rejected", exc.code, exc.message
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one broken file must not stop the batch
        outcome.status, outcome.code, outcome.error = "failed", type(exc).__name__, str(exc)
    else:
        outcome.status = "ok"
        outcome.metrics, outcome.engine = report.metrics, report.engine
    outcome.seconds = time.perf_counter() - started


def import_decoding_side() -> None:
    """Everything the main thread imports before the engines are ready (``_enhance_one`` and
    ``pipeline.enhance_file`` up to its ``ready()`` call)."""
    import av.subtitles.stream  # noqa: F401 - PyAV imports it on its first open

    import services.enhancer.stage  # noqa: F401
    import services.upsampler.finish  # noqa: F401
    import services.upsampler.quality  # noqa: F401
    import services.upsampler.widen  # noqa: F401
    import shared.audio.mastering  # noqa: F401 - measure_file imports it lazily
    import speakup.pipeline  # noqa: F401


def _check_engines(args: argparse.Namespace) -> str | None:
    """An unknown engine is a usage error, found before any work."""
    from services.enhancer import engines as enhance_engines
    from services.upsampler import engines as upsample_engines

    try:
        enhance_engines.get(args.engine)
        if args.sample_rate != 16000:
            upsample_engines.get(args.upsampler)
    except LookupError as exc:
        return str(exc).strip("'\"")
    return None


def _final_words(outcome: Outcome) -> str:
    if outcome.status == "ok":
        return f"done → {outcome.dst.name}"
    return f"[red]{outcome.status}: {outcome.code}[/red]"


def _exit_code(outcomes: list[Outcome]) -> int:
    statuses = {o.status for o in outcomes}
    if "failed" in statuses:
        return Exit.FAILED
    return Exit.REJECTED if "rejected" in statuses else Exit.OK


def _num(value: Any, unit: str = "", digits: int = 1) -> str:
    return f"{value:.{digits}f}{unit}" if isinstance(value, int | float) else "–"


def summary_table(outcomes: list[Outcome]) -> Table:
    folders = sorted({str(o.dst.parent) for o in outcomes if o.status == "ok"})
    table = Table(title="speakup enhance", title_justify="left", show_footer=True,
                  caption=f"results in {', '.join(folders)}" if folders else None,
                  caption_justify="left")
    ok = [o for o in outcomes if o.status == "ok"]
    total_audio_s = sum(o.metrics.get("duration_s") or 0.0 for o in ok)
    total_s = sum(o.seconds for o in outcomes)
    table.add_column("file", footer=f"{len(ok)}/{len(outcomes)} done", no_wrap=True)
    table.add_column("duration", justify="right", footer=_num(total_audio_s, " s"))
    table.add_column("LUFS in → out", justify="right")
    table.add_column("peak dBTP", justify="right")
    table.add_column("DNSMOS in → out", justify="right")
    table.add_column("engine", no_wrap=True)
    table.add_column("time", justify="right", footer=_num(total_s, " s"))
    table.add_column("× real time", justify="right",
                     footer=_num(total_audio_s / total_s if total_s else None, "", 1))
    table.add_column("result", overflow="fold")
    for o in outcomes:
        m = o.metrics
        if o.status == "ok":
            duration = m.get("duration_s")
            speed = duration / o.seconds if duration and o.seconds else None
            table.add_row(o.src.name, _num(duration, " s"),
                          f"{_num(m.get('input_lufs'))} → {_num(m.get('output_lufs'))}",
                          _num(m.get("output_true_peak_dbtp")),
                          f"{_num(m.get('dnsmos_ovrl_in'), '', 2)} → "
                          f"{_num(m.get('dnsmos_ovrl_out'), '', 2)}",
                          f"{o.engine.get('enhancer', '?')} + {o.engine.get('upsampler', '?')}",
                          _num(o.seconds, " s"), _num(speed), o.dst.name)
        else:
            table.add_row(o.src.name, "–", "–", "–", "–", "–", _num(o.seconds, " s"), "–",
                          f"[red]{o.status} ({o.code})[/red]: {o.error}")
    return table
