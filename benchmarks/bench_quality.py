"""Cost of the quality report (DNSMOS in → out, bandwidth) and of the lossy delivery check, per
input length, in one run.

    .venv/bin/python -m benchmarks.bench_quality [--durations 10 60 600 3600]

For each length: a phone-like input (speech at 16 kHz, AAC in m4a, as a phone writes) and a
48 kHz MP3 output (LAME VBR) are made from real recordings looped (or a voice-like signal where
the data folder is absent); then `services.upsampler.quality.quality_report` (decodes both up to
the excerpt's end, scores ≤ 3 + 3 DNSMOS windows) and `shared.audio.publish.measure_delivered`
(decodes the whole MP3: loudness and 4× true peak, the check every lossy output gets) are timed
in this process, wall and CPU. RTF = wall seconds / audio seconds. The machine's load average is
recorded: on a shared machine every figure is pessimistic.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from services.upsampler import dnsmos
from services.upsampler.quality import RTF_BUDGET, WINDOW_COST_S, quality_report
from shared.audio.formats import get_format
from shared.audio.publish import encode_audio_file, measure_delivered

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(os.environ.get("SPEAKUP_DATA_DIR", Path(__file__).resolve().parents[2] / "shared"
                           / "data"))


def speech(seconds: float, rate_hz: int) -> np.ndarray:
    """Real recordings (real_noisy/ then clean/) looped to ``seconds`` at ``rate_hz``."""
    clips = sorted((DATA / "real_noisy").glob("*.wav"))[:6] + sorted(
        (DATA / "clean").glob("*.wav"))[:6]
    parts = []
    for path in clips:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        parts.append(soxr.resample(audio.mean(axis=1), rate, rate_hz).astype(np.float32))
    if not parts:  # no data folder: a voice-like signal
        t = np.arange(int(20 * rate_hz)) / rate_hz
        voiced = sum(np.sin(2 * np.pi * k * 150 * t) / k for k in range(1, 30))
        parts = [(0.2 * voiced * np.clip(np.sin(2 * np.pi * 3.7 * t), 0, None)).astype(
            np.float32)]
    one = np.concatenate(parts)
    n = int(seconds * rate_hz)
    return np.tile(one, n // len(one) + 1)[:n]


def make_files(folder: Path, seconds: float) -> tuple[Path, Path, Path]:
    import av

    phone = speech(seconds, 16000)
    enhanced = folder / "enhanced.wav"
    sf.write(str(enhanced), phone, 16000, subtype="FLOAT")
    src = folder / "input.m4a"
    with av.open(str(src), "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=16000)
        stream.layout = "mono"
        from shared.audio.publish import write_audio

        write_audio(out, stream, enhanced, 16000)
    wide = folder / "wide.wav"
    with sf.SoundFile(str(wide), "w", samplerate=48000, channels=1, subtype="FLOAT") as writer:
        stream_rs = soxr.ResampleStream(16000, 48000, 1, dtype="float32")
        for start in range(0, len(phone), 16000 * 60):
            block = phone[start:start + 16000 * 60]
            writer.write(stream_rs.resample_chunk(block, last=start + len(block) >= len(phone)))
    out_mp3 = folder / "output.mp3"
    encode_audio_file(wide, out_mp3, get_format("mp3"), rate_hz=48000)
    wide.unlink()
    return src, out_mp3, enhanced


def timed(fn):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", type=float, nargs="+", default=[10, 60, 600, 3600])
    parser.add_argument("--out", type=Path, default=RESULTS / "quality.json")
    parser.add_argument("--markdown-only", action="store_true",
                        help="rewrite the .md from the .json, measuring nothing")
    args = parser.parse_args(argv)
    if args.markdown_only:
        args.out.with_suffix(".md").write_text(markdown(json.loads(args.out.read_text())))
        return
    load_before = os.getloadavg()
    _, load_s, _ = timed(dnsmos.warm_up)  # once per worker process, not per job
    rows = []
    for seconds in args.durations:
        with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
            src, out, enhanced = make_files(Path(tmp), seconds)
            metrics, wall, cpu = timed(lambda: quality_report(src, out, enhanced))  # noqa: B023
            measured, check_wall, check_cpu = timed(lambda: measure_delivered(out))  # noqa: B023
        rows.append({
            "audio_s": seconds,
            "excerpt_s_per_side": metrics["quality_excerpt_s"],
            "windows_s": metrics["quality_windows_s"],
            "report_wall_s": round(wall, 3), "report_cpu_s": round(cpu, 3),
            "report_rtf": round(wall / seconds, 5),
            "delivery_check_wall_s": round(check_wall, 3),
            "delivery_check_rtf": round(check_wall / seconds, 5),
            "dnsmos_ovrl_in": metrics["dnsmos_ovrl_in"],
            "dnsmos_ovrl_out": metrics["dnsmos_ovrl_out"],
            "output_true_peak_dbtp": round(measured.true_peak_dbtp, 2),
        })
        print(json.dumps(rows[-1]), flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    result = {
        "date": time.strftime("%Y-%m-%d"), "commit": commit, "machine": platform.processor()
        or platform.machine(), "cpus": os.cpu_count(), "onnx_threads": 1,
        "model_load_s": round(load_s, 3),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


def markdown(result: dict) -> str:
    lines = [
        "# Quality report and lossy delivery check: cost per input length",
        "",
        f"`python -m benchmarks.bench_quality`, {result['date']}, commit {result['commit']}, "
        f"{result['cpus']} CPUs, onnxruntime 1 thread, load average "
        f"{result['load_average_before'][0]} before / {result['load_average_after'][0]} after "
        f"(a shared machine: pessimistic). DNSMOS model load, once per worker process: "
        f"{result['model_load_s']} s. Input: AAC m4a at 16 kHz; output: MP3 VBR at 48 kHz.",
        "",
        "| audio | excerpt per side | report wall (CPU) | report RTF | delivery check RTF |"
        " OVRL in → out |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['audio_s']:g} s | {row['excerpt_s_per_side']} s | {row['report_wall_s']} s "
            f"({row['report_cpu_s']} s) | {row['report_rtf']} | {row['delivery_check_rtf']} | "
            f"{row['dnsmos_ovrl_in']} → {row['dnsmos_ovrl_out']} |")
    per_window_s = 2 * WINDOW_COST_S / RTF_BUDGET  # audio that pays for one more window a side
    lines += ["", f"The report scores one 9.01 s window per side below {2 * per_window_s:g} s of "
              f"audio, two below {3 * per_window_s:g} s, three above (`windows_for`: ≤ RTF "
              f"{RTF_BUDGET:g} at ~{WINDOW_COST_S:g} s of CPU per window); below "
              f"~{per_window_s:g} s even one window per side costs more than that (a fixed "
              "~0.8 s). The delivery check decodes the whole lossy file (loudness, 4× true peak) "
              "once per encode. OVRL in ≈ out here: the 'output' is the input re-encoded, not "
              "enhanced.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
