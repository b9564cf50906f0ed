"""`make bench`: speed and memory of every stage and the whole chain, then load on the api and a
burst of jobs through the real stack. Results (JSON + markdown) in benchmarks/results/.

    python -m benchmarks.run [--quick] [--short-s 300] [--long-s 7200] [--max-stage-s 600]
                             [--only stages,load,jobs] [--threads 2] [--long-rows decode,chain]

Each stage runs in its own process (benchmarks/stage.py) on a generated phone-like input (AAC in
m4a, 48 kHz): decode, the bandwidth-aware chain's band split and seam (benchmarks/stage.py
`bandsplit`), enhance with every installed engine (RNNoise among them), upsample with every
installed engine, master, FFmpeg's two-pass loudnorm on the same file (benchmarks/loudnorm.py),
DeepFilterNet3 alone (decode at 48 kHz, the model, a WAV), and the whole chain with today's
`auto`, with dsp and with ErbNet — the chain against DeepFilterNet3 alone in one table, whole
process and work alone. Peak memory is the process's VmHWM. On the
long input, a stage whose 1-minute real-time factor predicts more than --max-stage-s is run for
--max-stage-s only and reported as partial: the real-time factor and peak memory over the part
it processed (read from the growing output file), which is what flat memory is about.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
CACHE = Path(tempfile.gettempdir()) / "speakup-bench-inputs"


def _vm(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_stage(args: list[str], dst: Path, cap_s: float | None, bytes_per_s: float | None,
              threads: int) -> dict[str, Any]:
    """Run one stage process; stop it after `cap_s` (partial result from the output size)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads),
           "TF_NUM_INTRAOP_THREADS": str(threads), "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "benchmarks.stage", *args, "--threads", str(threads)]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    started, peak = time.monotonic(), 0.0
    while proc.poll() is None:
        peak = max(peak, _vm(proc.pid, "VmHWM"))
        if cap_s is not None and time.monotonic() - started > cap_s:
            peak = max(peak, _vm(proc.pid, "VmHWM"))
            proc.kill()
            proc.wait()
            done_s = max(dst.stat().st_size - 64, 0) / bytes_per_s if bytes_per_s and \
                dst.exists() else 0.0
            seconds = time.monotonic() - started
            return {"partial": True, "seconds": round(seconds, 1), "audio_s": round(done_s, 1),
                    "rtf": round(seconds / done_s, 4) if done_s else None,
                    "peak_rss_mb": round(peak)}
        time.sleep(0.1)
    out, err = proc.communicate()
    process_s = time.monotonic() - started
    if proc.returncode != 0:
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"rc {proc.returncode}"}
    return {**json.loads(out.strip().splitlines()[-1]), "partial": False,
            "process_s": round(process_s, 2)}


def input_file(duration_s: float) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"phone_{int(duration_s)}s.m4a"
    if not path.exists():
        subprocess.run([sys.executable, "-m", "benchmarks.stage", "generate", str(path),
                        "--duration-s", str(duration_s)], check=True, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    return path


def engine_names() -> tuple[list[str], list[str]]:
    code = ("import json; from services.enhancer import engines as e; "
            "from services.upsampler import engines as u; "
            "print(json.dumps([e.names(), u.names()]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO),
                                        "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
    enhancers, upsamplers = json.loads(out.strip().splitlines()[-1])
    return enhancers, upsamplers


def plan(enhancers: list[str], upsamplers: list[str]) -> list[tuple[str, list[str], str]]:
    """(row name, stage args with {in}/{out} placeholders, output file name)."""
    rows = [("decode", ["decode", "{m4a}", "{w}/decoded.wav"], "decoded.wav"),
            ("bandsplit", ["bandsplit", "{m4a}", "{w}/bandsplit.wav"], "bandsplit.wav")]
    for name in enhancers:
        rows.append((f"enhance/{name}", ["enhance", "{w}/decoded.wav", f"{{w}}/enh_{name}.wav",
                                          "--engine", name], f"enh_{name}.wav"))
    for name in upsamplers:
        rows.append((f"upsample/{name}", ["upsample", "{w}/enh_passthrough.wav",
                                           f"{{w}}/up_{name}.wav", "--upsampler", name],
                     f"up_{name}.wav"))
    rows.append(("master/podcast", ["master", "{w}/up_resample.wav", "{w}/mastered.wav"],
                 "mastered.wav"))
    rows.append(("master/ffmpeg-loudnorm", ["loudnorm", "{w}/up_resample.wav",
                                            "{w}/loudnorm.wav"], "loudnorm.wav"))
    if "deepfilternet" in enhancers:
        rows.append(("deepfilternet3 alone", ["dfn3", "{m4a}", "{w}/dfn3.wav"], "dfn3.wav"))
    chains = [("auto", "auto"), ("dsp", "auto")] + [("erbnet", "auto")] * ("erbnet" in enhancers)
    for engine, up in chains:
        rows.append((f"chain/{engine}+{up}", ["chain", "{m4a}", f"{{w}}/chain_{engine}.wav",
                                              "--engine", engine, "--upsampler", up],
                     f"chain_{engine}.wav"))
    return rows


def bench_stages(short_s: float, long_s: float, max_stage_s: float,
                 threads: int, short_only: bool = False,
                 long_rows: set[str] | None = None) -> dict[str, Any]:
    enhancers, upsamplers = engine_names()
    rows = plan(enhancers, upsamplers)
    results: dict[str, dict[str, Any]] = {}
    rates: dict[str, float] = {}
    inputs = [("short", short_s)] + [("long", long_s)] * (not short_only)
    for label, duration_s in inputs:
        m4a = input_file(duration_s)
        with tempfile.TemporaryDirectory(prefix=f"speakup-bench-{label}-") as work:
            wanted = _with_inputs(long_rows, [name for name, _, _ in rows])
            for name, template, out_name in rows:
                if label == "long" and wanted is not None and name not in wanted:
                    continue
                args = [a.format(m4a=m4a, w=work) for a in template]
                cap = None
                if label == "long" and name in results and "rtf" in results[name]["short"]:
                    predicted = (results[name]["short"]["rtf"] or 0) * duration_s
                    cap = max_stage_s if predicted > max_stage_s else None
                outcome = run_stage(args, Path(work, out_name), cap, rates.get(name), threads)
                if label == "short" and "audio_s" in outcome:
                    size = Path(work, out_name).stat().st_size
                    rates[name] = size / max(outcome["audio_s"], 1e-9)
                results.setdefault(name, {})[label] = outcome
                print(json.dumps({"row": name, "input": label, **outcome}), flush=True)
    return {"short_s": short_s, "long_s": long_s, "threads": threads, "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 1), "rows": results}


def _with_inputs(chosen: set[str] | None, names: list[str]) -> set[str] | None:
    """The rows ``chosen`` (names or prefixes such as ``enhance``) and the rows whose outputs
    they read: enhance reads decode's, upsample enhance/passthrough's, master upsample/resample's.
    None: every row."""
    if not chosen:
        return None
    picked = {n for n in names if n in chosen or n.split("/")[0] in chosen}
    needs = {"enhance": ["decode"], "upsample": ["decode", "enhance/passthrough"],
             "master": ["decode", "enhance/passthrough", "upsample/resample"]}
    for name in list(picked):
        picked.update(needs.get(name.split("/")[0], []))
    return picked


def stages_markdown(report: dict[str, Any]) -> str:
    short, long = report["short_s"], report["long_s"]
    lines = [f"### Stages: real-time factor (seconds of compute per second of audio) and peak "
             f"memory, {report['threads']} threads, {report['cpus']} CPUs (load average at the "
             f"end {report['load_average_1min']})", "",
             f"| stage / engine | RTF {_span(short)} | whole process s {_span(short)} | peak MiB "
             f"| RTF {_span(long)} | peak MiB | loudness, true peak | note |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in report["rows"].items():
        s, g = r.get("short", {}), r.get("long", {})
        note = s.get("error") or g.get("error") or ""
        if g.get("partial") and g.get("audio_s"):
            note = f"partial: first {g['audio_s'] / 60:.1f} min of audio in {g['seconds']:.0f} s"
        elif g.get("partial"):
            note = (f"partial: stopped after {g['seconds']:.0f} s before its output was written "
                    "(multi-pass); peak memory over that time")
        accuracy = ""
        if "output_lufs" in s:
            accuracy = f"{s['output_lufs']} LUFS, {s['output_true_peak_dbtp']} dBTP"
        lines.append(f"| {name} | {s.get('rtf', '–')} | {s.get('process_s', '–')} | "
                     f"{s.get('peak_rss_mb', '–')} | {g.get('rtf', '–')} | "
                     f"{g.get('peak_rss_mb', '–')} | {accuracy} | {note} |")
    lines += ["", "RTF < 1 is faster than real time; it times the work, after imports and model "
              "loading. Whole process s: the command from start to exit, imports included. Peak "
              "MiB includes the imported libraries (torch ≈ 300 MiB); equal peaks on both inputs "
              "mean memory stays flat. Mastering rows: podcast target −16 LUFS, ≤ −1 dBTP, "
              "measured on the written file (4× oversampled true peak)."]
    lines += _versus_dfn3(report["rows"], short)
    return "\n".join(lines) + "\n"


def _span(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def _versus_dfn3(rows: dict[str, Any], short_s: float) -> list[str]:
    dfn3 = rows.get("deepfilternet3 alone", {}).get("short", {})
    if "process_s" not in dfn3:
        return []
    lines = ["", f"#### The whole chain against DeepFilterNet3 alone ({_span(short_s)}, same run)",
             "", "| chain | whole process s | ratio to DFN3 alone | work s | ratio | seconds "
             "per stage |", "|---|---|---|---|---|---|"]
    for name, row in rows.items():
        chain = row.get("short", {})
        if not name.startswith("chain/") or "process_s" not in chain:
            continue
        stages = ", ".join(f"{k} {v:.2f}" for k, v in chain.get("stage_seconds", {}).items() if v)
        lines.append(f"| {name} ({chain.get('engines', {}).get('enhancer', '?')}) | "
                     f"{chain['process_s']} | {chain['process_s'] / dfn3['process_s']:.2f} | "
                     f"{chain['seconds']} | {chain['seconds'] / dfn3['seconds']:.2f} | "
                     f"{stages} |")
    lines.append(f"| DeepFilterNet3 alone (decode 48 kHz, model, WAV) | {dfn3['process_s']} | "
                 f"1.00 | {dfn3['seconds']} | 1.00 | |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 s / 3 min inputs, 10 s load")
    parser.add_argument("--short-s", type=float, default=300.0)
    parser.add_argument("--long-s", type=float, default=7200.0)
    parser.add_argument("--max-stage-s", type=float, default=600.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="stages,load,jobs")
    parser.add_argument("--long-rows", default="",
                        help="comma-separated rows (or row prefixes, e.g. enhance) to run on the "
                             "long input; all when empty")
    parser.add_argument("--short-only", action="store_true",
                        help="re-measure the short input only; keep the long rows on file")
    args = parser.parse_args(argv)
    if args.quick:
        args.short_s, args.long_s, args.max_stage_s = 20.0, 180.0, 120.0
    only = set(args.only.split(","))
    RESULTS.mkdir(parents=True, exist_ok=True)
    if "stages" in only:
        report = bench_stages(args.short_s, args.long_s, args.max_stage_s, args.threads,
                              args.short_only, set(filter(None, args.long_rows.split(","))))
        stem = "stages_quick" if args.quick else "stages"
        if args.short_only and (RESULTS / f"{stem}.json").exists():
            kept = json.loads((RESULTS / f"{stem}.json").read_text())
            for name, row in kept["rows"].items():
                if "long" in row:
                    report["rows"].setdefault(name, {})["long"] = row["long"]
            report["long_s"] = kept["long_s"]
        (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2))
        (RESULTS / f"{stem}.md").write_text(stages_markdown(report))
    if "load" in only:
        from benchmarks import load

        load.main(["--duration-s", "10" if args.quick else "60", "--profile"]
                  + (["--tag", "quick"] if args.quick else []))
    if "jobs" in only:
        from benchmarks import jobs

        jobs.main(["--count", "30", "--tag", "quick"] if args.quick else ["--count", "200"])


if __name__ == "__main__":
    main()
