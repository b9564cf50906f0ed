"""The bandwidth-aware chain against the old one on held-out real full-band speech made phone-like.

    python -m benchmarks.bandwidth_chain [--data-dir ../shared/data] [--limit N] [--enhancer E]
                                         [--bitrate 128000]

Held-out speakers (shared/datasplit.py) of `fullband_ravdess/` and the full-band files of
`clean/` (≥ 44.1 kHz, sound above 10 kHz), each mixed with a held-out real noise recording
(`noise/`, seeded choice and offset) at 15 dB SNR and encoded as 48 kHz AAC at 128 kb/s — a phone
memo (`--bitrate 64000`: one whose band ends near 17.5 kHz, which `auto` fills by replication).
Each goes through the same enhancer (`auto`) and upsampler (`auto`) twice, before mastering:

- old chain: the 16 kHz decode enhanced, then super-resolution 16 → 48 kHz (what the product did);
- new chain: the same, with the input's own band above 7.4 kHz kept with the enhancer's gains
  and super-resolution only above the input's cutoff (`shared.audio.bandsplit`).

Scored against the clean reference, every signal aligned to it (AAC's encoder delay) and scaled
to it by least squares (the enhancer changes the level):

- log-spectral distance as haoheliu/ssr_eval defines it (full band and 8–24 kHz;
  `services.upsampler.sr_metrics`), both sides rounded to 16-bit PCM as `evaluation.sr` scores.
  It has no floor: a frame the estimate leaves in digital silence scores ~16 per bin whatever
  the reference holds, so the share of output frames whose 8–24 kHz band rounds to zero is
  reported beside it;
- log-spectral distance in dB, floored 80 dB under the reference's peak (`evaluation.metrics`);
- how many outputs are narrower than their input (`shared.audio.bandwidth`): strictly, by more
  than the estimate's resolution, and narrower than the clean speech itself (an input whose
  top band was noise comes back narrower once that noise is gone; one narrower than the speech
  lost some of it).

Results: benchmarks/results/bandwidth_chain.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
RATE_HZ = 48_000
SNR_DB = 15.0
BITRATE = 128_000
SIDES = ("input", "old", "new")


def speech_files(data_dir: Path) -> list[Path]:
    from shared.audio.bandwidth import wav_bandwidth_hz
    from shared.datasplit import is_eval_speaker

    ravdess = sorted(p for p in (data_dir / "fullband_ravdess").glob("*.flac")
                     if is_eval_speaker(p))
    clean = [p for p in sorted((data_dir / "clean").iterdir())
             if p.is_file() and is_eval_speaker(p) and sf.info(str(p)).samplerate >= 44100
             and (wav_bandwidth_hz(p) or 0) > 10_000]
    return clean + ravdess


def noise_files(data_dir: Path) -> list[Path]:
    from shared.datasplit import is_eval_file

    return [p for p in sorted((data_dir / "noise").iterdir()) if p.is_file() and is_eval_file(p)]


def read_48k(path: Path) -> np.ndarray:
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    return mono if rate == RATE_HZ else soxr.resample(mono, rate, RATE_HZ, quality="VHQ")


def phone_like(clean: np.ndarray, noise: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``clean`` + a random stretch of ``noise`` (looped) at `SNR_DB`."""
    start = int(rng.integers(0, max(len(noise) - 1, 1)))
    stretch = np.resize(np.roll(noise, -start), len(clean))
    scale = np.sqrt(np.mean(clean**2) / (np.mean(stretch**2) * 10 ** (SNR_DB / 10) + 1e-20))
    return clean + scale * stretch


def write_aac(path: Path, audio: np.ndarray, bitrate: int = BITRATE) -> None:
    import av

    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=RATE_HZ)
        stream.layout = "mono"
        stream.bit_rate = bitrate
        frame = av.AudioFrame.from_ndarray(audio.astype(np.float32)[None, :], format="flt",
                                           layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE_HZ, 0, Fraction(1, RATE_HZ)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


def lag_of(signal: np.ndarray, reference: np.ndarray) -> int:
    from scipy.signal import correlate

    probe = min(len(reference), 2 * RATE_HZ)
    corr = correlate(signal[: probe + 4096], reference[:probe], "valid", "fft")
    return int(np.argmax(corr))


def matched(signal: np.ndarray, reference: np.ndarray, lag: int) -> np.ndarray:
    x = signal[lag : lag + len(reference)]
    x = np.pad(x, (0, len(reference) - len(x)))
    return x * float(np.dot(x, reference) / max(np.dot(x, x), 1e-20))


def silent_high_share(pcm: np.ndarray) -> float:
    """Share of ssr_eval's STFT frames whose 8–24 kHz band is exactly zero."""
    from services.upsampler.sr_metrics import magnitude_spectrogram, ssr_eval_stft_size

    n_fft, hop = ssr_eval_stft_size(RATE_HZ)
    high = magnitude_spectrogram(pcm, n_fft, hop)[:, int(8000 * n_fft / RATE_HZ):]
    return float((high.max(axis=1) == 0).mean())


def run_chains(src: Path, tmp: Path, enhancer: Any) -> dict[str, Any]:
    """Both chains on one phone-like file: {"input", "old", "new": (audio at 48 kHz)}, the
    measured cutoff, the engines that ran."""
    from services.upsampler.widen import widen
    from shared.audio.bandsplit import fullband_file, plan
    from shared.audio.blocks import process_file
    from shared.audio.decode import probe_and_decode_to_wav

    narrow, wide, enhanced, full = (tmp / n for n in ("x16.wav", "wide.wav", "y16.wav",
                                                        "full.wav"))
    info = probe_and_decode_to_wav(src, narrow, target_rate_hz=16000, wide_wav_path=wide)
    process_file(narrow, enhanced, lambda x: enhancer.enhance(x, 16000, 1.0))
    old = widen(enhanced, None, None, "auto", tmp)
    old_audio = read_48k(old.path)
    keep = plan(sf.info(str(wide)).samplerate, info.bandwidth_hz).keep_input_band
    if keep:
        fullband_file(wide, narrow, enhanced, full)
    new = widen(enhanced, full if keep else None, info.bandwidth_hz, "auto", tmp)
    return {"input": read_48k(wide), "old": old_audio, "new": read_48k(new.path),
            "cutoff_hz": info.bandwidth_hz, "upsampler": {"old": old.engine, "new": new.engine}}


def evaluate(data_dir: Path, limit: int | None, seed: int = 15,
             enhancer_name: str = "auto", bitrate: int = BITRATE) -> dict[str, Any]:
    from evaluation.metrics import log_spectral_distance
    from services.enhancer import engines as enhance_engines
    from services.upsampler import engines as upsample_engines
    from services.upsampler.sr_metrics import lsd_bands, to_pcm16, trim_digital_silence
    from shared.audio.bandwidth import RESOLUTION_HZ, bandwidth_hz

    files = speech_files(data_dir)[:limit]
    noises = [read_48k(p) for p in noise_files(data_dir)]
    enhancer = enhance_engines.get(enhancer_name)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for path in files:
        clean = trim_digital_silence(read_48k(path))
        noisy = phone_like(clean, noises[int(rng.integers(len(noises)))], rng)
        peak = float(np.max(np.abs(noisy)))
        if peak > 0.9:  # headroom for the encoder; the reference scales along
            clean, noisy = clean * 0.9 / peak, noisy * 0.9 / peak
        with tempfile.TemporaryDirectory(prefix="speakup-bwchain-") as tmp:
            src = Path(tmp, "memo.m4a")
            write_aac(src, noisy, bitrate)
            result = run_chains(src, Path(tmp), enhancer)
        lag = lag_of(result["input"], clean)
        reference = to_pcm16(clean)
        row: dict[str, Any] = {"file": f"{path.parent.name}/{path.name}",
                               "cutoff_hz": result["cutoff_hz"],
                               "speech_bandwidth_hz": bandwidth_hz([clean], RATE_HZ),
                               "upsampler": result["upsampler"]}
        for side in SIDES:
            audio = matched(result[side], clean, lag)
            pcm = to_pcm16(audio)
            lsd, lsd_high = lsd_bands(reference, pcm, RATE_HZ, (0.0, 8000.0))
            row[side] = {
                "lsd": round(lsd, 4), "lsd_high": round(lsd_high, 4),
                "lsd_db": round(log_spectral_distance(clean, audio, RATE_HZ), 3),
                "lsd_db_high": round(log_spectral_distance(clean, audio, RATE_HZ,
                                                           band_hz=(8000.0, 24000.0)), 3),
                "silent_high_frames": round(silent_high_share(pcm), 4),
                "bandwidth_hz": bandwidth_hz([result[side]], RATE_HZ),
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
    seconds = time.perf_counter() - started
    summary: dict[str, Any] = {}
    for side in SIDES:
        out = [r[side]["bandwidth_hz"] for r in rows]
        summary[side] = {
            **{key: round(float(np.mean([r[side][key] for r in rows])), 3)
               for key in ("lsd", "lsd_high", "lsd_db", "lsd_db_high", "silent_high_frames")},
            "bandwidth_hz": round(float(np.mean(out))),
            "narrower": sum(o < r["cutoff_hz"] for o, r in zip(out, rows, strict=True)),
            "narrower_beyond_resolution": sum(o < r["cutoff_hz"] - RESOLUTION_HZ
                                              for o, r in zip(out, rows, strict=True)),
            "narrower_than_speech": sum(
                o < min(r["cutoff_hz"], r["speech_bandwidth_hz"]) - RESOLUTION_HZ
                for o, r in zip(out, rows, strict=True)),
        }
    return {
        "date": time.strftime("%Y-%m-%d"), "files": len(rows), "snr_db": SNR_DB,
        "bitrate": bitrate, "enhancer": enhancer.name,
        "upsampler": upsample_engines.resolve("auto"), "seconds": round(seconds, 1),
        "resolution_hz": round(RESOLUTION_HZ), "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "summary": summary, "rows": rows,
    }


def markdown(report: dict[str, Any]) -> str:
    s, n = report["summary"], report["files"]
    names = {"input": "input (noisy, AAC)", "old": "old chain (16 kHz → super-resolution)",
             "new": "**new chain** (own band kept, SR above its cutoff)"}
    lines = [f"### The chain on held-out real full-band speech, phone-like ({report['date']})", "",
             f"{n} files (held-out RAVDESS actors and full-band clean/ speakers), real held-out "
             f"noise at {report['snr_db']:.0f} dB SNR, 48 kHz AAC {report['bitrate'] // 1000} "
             f"kb/s; enhancer `{report['enhancer']}`, upsampler `{report['upsampler']}`, before "
             "mastering. Against the clean reference, aligned and scaled by least "
             "squares. LSD: haoheliu/ssr_eval's (log10 power ratio, 16-bit PCM, no floor); "
             "LSD dB: floored 80 dB under the reference's peak (evaluation.metrics).", "",
             "| | LSD | LSD 8–24 kHz | LSD dB | LSD dB 8–24 kHz | frames with 8–24 kHz "
             "in digital silence | mean bandwidth |", "|---|---|---|---|---|---|---|"]
    for side in SIDES:
        row = s[side]
        lines.append(f"| {names[side]} | {row['lsd']:.2f} | {row['lsd_high']:.2f} | "
                     f"{row['lsd_db']:.2f} | {row['lsd_db_high']:.2f} | "
                     f"{100 * row['silent_high_frames']:.1f} % | "
                     f"{row['bandwidth_hz'] / 1000:.1f} kHz |")
    lines += ["", f"| narrower than the input | strictly | by > {report['resolution_hz']} Hz | "
              "than the clean speech itself, by > the same |", "|---|---|---|---|"]
    for side in ("old", "new"):
        row = s[side]
        lines.append(f"| {names[side]} | {row['narrower']} of {n} | "
                     f"{row['narrower_beyond_resolution']} | {row['narrower_than_speech']} |")
    lines += ["", f"{report['resolution_hz']} Hz is the bandwidth estimate's resolution (its "
              "smoothing): closer than that, two bandwidths cannot be told apart. "
              f"Run time {report['seconds']:.0f} s on {report['cpus']} CPUs."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("SPEAKUP_DATA_DIR",
                                                    REPO.parent / "shared" / "data")))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--enhancer", default="auto", help="enhancement engine for both chains")
    parser.add_argument("--bitrate", type=int, default=BITRATE, help="the AAC memo's bit rate")
    parser.add_argument("--out", type=Path, default=RESULTS / "bandwidth_chain")
    args = parser.parse_args(argv)
    report = evaluate(args.data_dir, args.limit, enhancer_name=args.enhancer,
                      bitrate=args.bitrate)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
