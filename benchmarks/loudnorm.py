"""The baseline a user would reach for to master a file: FFmpeg's `loudnorm` filter in its
two-pass form (measure, then normalise with the measured values, `linear=true`), run through
PyAV's libavfilter — the same filter code as the `ffmpeg` command, no extra binary.

    python -m benchmarks.loudnorm IN.wav OUT.wav [--lufs -16] [--true-peak -1]

loudnorm works at 192 kHz internally; `aresample` brings it back to the input's rate. Returns
(and prints) the seconds of each pass and what the result measures with the product's meters.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.filter
import av.logging
import numpy as np
import soundfile as sf

BLOCK_SAMPLES = 48_000


def _run_graph(src: Path, options: str, writer: sf.SoundFile | None) -> None:
    rate = sf.info(str(src)).samplerate
    graph = av.filter.Graph()
    source = graph.add_abuffer(format="flt", sample_rate=rate, layout="mono",
                               time_base=Fraction(1, rate))
    chain = [source, graph.add("loudnorm", options), graph.add("aresample", str(rate)),
             graph.add("abuffersink")]
    for a, b in zip(chain, chain[1:], strict=False):
        a.link_to(b)
    graph.configure()
    pts = 0
    with sf.SoundFile(str(src)) as reader:
        for block in reader.blocks(blocksize=BLOCK_SAMPLES, dtype="float32"):
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
            pts += len(block)
            graph.push(frame)
            _drain(graph, writer)
    graph.push(None)
    _drain(graph, writer)


def _drain(graph: av.filter.Graph, writer: sf.SoundFile | None) -> None:
    for frame in _pulled(graph):
        if writer is not None:
            writer.write(frame.to_ndarray().reshape(-1))


def _pulled(graph: av.filter.Graph) -> Iterator[av.AudioFrame]:
    while True:
        try:
            yield graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return


def loudnorm_file(src: Path, dst: Path, target_lufs: float = -16.0,
                  true_peak_dbtp: float = -1.0, lra_lu: float = 11.0) -> dict[str, Any]:
    from shared.audio.mastering import measure_file

    base = f"I={target_lufs}:TP={true_peak_dbtp}:LRA={lra_lu}"
    started = time.perf_counter()
    av.logging.set_level(av.logging.INFO)
    try:
        with av.logging.Capture() as logs:
            _run_graph(src, f"{base}:print_format=json", None)
    finally:
        av.logging.set_level(None)
    text = "\n".join(str(entry[2]) for entry in logs)
    measured = json.loads(text[text.index("{") : text.rindex("}") + 1])
    first_s = time.perf_counter() - started
    options = (f"{base}:measured_I={measured['input_i']}:measured_TP={measured['input_tp']}:"
               f"measured_LRA={measured['input_lra']}:measured_thresh={measured['input_thresh']}:"
               f"offset={measured['target_offset']}:linear=true:print_format=none")
    rate = sf.info(str(src)).samplerate
    with sf.SoundFile(str(dst), "w", samplerate=rate, channels=1, subtype="FLOAT") as writer:
        _run_graph(src, options, writer)
    seconds = time.perf_counter() - started
    lufs, peak = measure_file(dst)
    return {"seconds": round(seconds, 3), "measure_pass_s": round(first_s, 3),
            "output_lufs": round(lufs, 2), "output_true_peak_dbtp": round(peak, 2),
            "mode": measured.get("normalization_type")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--lufs", type=float, default=-16.0)
    parser.add_argument("--true-peak", type=float, default=-1.0)
    args = parser.parse_args(argv)
    result = loudnorm_file(args.src, args.dst, args.lufs, args.true_peak)
    result["audio_s"] = round(sf.info(str(args.dst)).duration, 2)
    result["rtf"] = round(result["seconds"] / max(result["audio_s"], 1e-9), 5)
    print(json.dumps(result))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
