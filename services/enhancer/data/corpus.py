"""`make data`: more training audio, built from Debian packages on any Debian-based machine.

    python -m services.enhancer.data.corpus build --out var/corpus [--source NAME ...]
    python -m services.enhancer.data.corpus list

Writes the plain layout the trainer reads (readers.PlainFolders), never into git:
    DIR/clean/<source>/*.flac   speech          DIR/noise/<source>/*.flac   noise, music beds
    DIR/babble/<source>/*.flac  background speech (never a target)
    DIR/manifest.json           per source: packages and versions, licence, files, seconds,
                                sample rates, and each file's original path inside its package
    DIR/licences/<package>.copyright             DIR/.cache/debs/*.deb (rebuilds need no network)
Every file is mono (mean of the channels), 16-bit FLAC at the source's own rate, its leading
and trailing silence trimmed to 100 ms, and at least 0.8 s long. A source already built with
the current recipe is skipped, so a second run does nothing; an interrupted one resumes.
What is taken from which package, and why: corpus_sources.py.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from services.enhancer.data.corpus_sources import SOURCES, Clip, Source
from services.enhancer.data.debs import AptFetcher, Fetcher, FetchError, Package

FORMAT_VERSION = 1
MIN_DURATION_S = 0.8
MARGIN_S = 0.1
SILENCE_BELOW_PEAK_DB = 45.0  # a 10 ms frame this far below the loudest one is silence
REPO_ROOT = Path(__file__).resolve().parents[3]


def _frame_levels_db(mono: np.ndarray, frame: int) -> np.ndarray:
    usable = len(mono) // frame * frame
    frames = mono[:usable].reshape(-1, frame) if usable else mono[None]
    return 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)


def trim_silence(mono: np.ndarray, rate_hz: int) -> np.ndarray:
    """Cut leading and trailing silence, keeping MARGIN_S of it on each side."""
    frame = max(1, int(0.01 * rate_hz))
    levels = _frame_levels_db(mono, frame)
    loud = np.flatnonzero(levels > levels.max() - SILENCE_BELOW_PEAK_DB)
    margin = int(MARGIN_S * rate_hz)
    start = max(0, int(loud[0]) * frame - margin)
    end = min(len(mono), (int(loud[-1]) + 1) * frame + margin)
    return mono[start:end]


def dynamic_range_db(mono: np.ndarray, rate_hz: int) -> float:
    """Loud (95th percentile) minus quiet (5th) 20 ms frame level: low when a noise floor
    fills the pauses."""
    levels = _frame_levels_db(mono, max(1, int(0.02 * rate_hz)))
    return float(np.percentile(levels, 95) - np.percentile(levels, 5))


def prepare(clip: Clip, source: Source) -> tuple[np.ndarray, int] | str:
    """(mono float32 [T], rate) ready to write, or why the clip is dropped."""
    audio, rate_hz = clip.read()
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    peak = float(np.max(np.abs(mono))) if len(mono) else 0.0
    if peak < 1e-4:
        return "silent"
    mono = trim_silence(mono, rate_hz)
    if len(mono) < MIN_DURATION_S * rate_hz:
        return "too_short"
    if (source.min_dynamic_range_db is not None
            and dynamic_range_db(mono, rate_hz) < source.min_dynamic_range_db):
        return "noisy"
    if peak > 0.999:  # decoded lossy audio can overshoot; 16-bit PCM would wrap
        mono = mono * (0.999 / peak)
    return mono.astype(np.float32), rate_hz


def _fetch_slot(fetcher: Fetcher, names: tuple[str, ...]) -> Package:
    errors = []
    for name in names:
        try:
            return fetcher.fetch(name)
        except FetchError as error:
            errors.append(str(error))
    raise FetchError("; ".join(errors))


def build_source(out: Path, source: Source, fetcher: Fetcher) -> dict[str, Any]:
    """Fetch, select, convert: the manifest entry of one source."""
    packages = [_fetch_slot(fetcher, slot) for slot in source.packages]
    for package in packages:
        copyright_file = package.root / "usr/share/doc" / package.name / "copyright"
        if copyright_file.exists():
            (out / "licences").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(copyright_file, out / "licences" / f"{package.name}.copyright")
    clips = source.select([p.root for p in packages])
    folder = out / source.folder
    folder.mkdir(parents=True, exist_ok=True)
    files, skipped = [], collections.Counter[str]()
    print(f"{source.name}: {len(clips)} candidate files", flush=True)
    for i, clip in enumerate(clips, 1):
        target = folder / f"{clip.name}.flac"
        if not target.exists():
            try:
                ready = prepare(clip, source)
            except Exception as error:  # one broken file is dropped and counted, not fatal
                print(f"  {source.name}: cannot read {clip.original}: {error}", flush=True)
                ready = "unreadable"
            if isinstance(ready, str):
                skipped[ready] += 1
                continue
            partial = target.with_suffix(".partial")
            sf.write(partial, ready[0], ready[1], format="FLAC", subtype="PCM_16")
            os.replace(partial, target)
        info = sf.info(str(target))
        files.append({"file": str(target.relative_to(out)), "original": clip.original,
                      "seconds": round(info.frames / info.samplerate, 3),
                      "sample_rate_hz": info.samplerate, **({"note": clip.note} if clip.note
                                                            else {})})
        if i % 200 == 0:
            print(f"  {source.name}: {i}/{len(clips)}", flush=True)
    kept = {Path(f["file"]).name for f in files}
    for stale in [*folder.glob("*.flac"), *folder.glob("*.partial")]:  # older recipe, crash
        if stale.name not in kept:
            stale.unlink()
    for package in packages:
        fetcher.release(package)
    rates = collections.Counter(str(f["sample_rate_hz"]) for f in files)
    print(f"{source.name}: {len(files)} files, {sum(f['seconds'] for f in files) / 60:.1f} min,"
          f" dropped {dict(skipped) or 'none'}", flush=True)
    return {
        "kind": source.kind, "folder": source.folder, "recipe": source.recipe,
        "packages": [{"name": p.name, "version": p.version, "sha256": p.sha256}
                     for p in packages],
        "licence": source.licence, "files": len(files),
        "seconds": round(sum(f["seconds"] for f in files), 1),
        "sample_rates_hz": dict(sorted(rates.items(), key=lambda kv: int(kv[0]))),
        "dropped": dict(skipped), "entries": files,
    }


def _is_done(out: Path, entry: dict[str, Any] | None, source: Source) -> bool:
    return (entry is not None and entry.get("recipe") == source.recipe
            and all((out / f["file"]).exists() for f in entry["entries"]))


def _check_out(out: Path) -> None:
    """Audio never lands in the repository outside its git-ignored var/."""
    resolved = out.resolve()
    if resolved.is_relative_to(REPO_ROOT) and not resolved.is_relative_to(REPO_ROOT / "var"):
        raise SystemExit(f"refusing to write audio into the repository: {out} (use var/...)")


def build(out: Path, sources: tuple[Source, ...] = SOURCES, fetcher: Fetcher | None = None
          ) -> dict[str, Any]:
    """Build (or complete) the corpus in `out`; returns the manifest."""
    _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    fetcher = fetcher or AptFetcher(out / ".cache")
    manifest_path = out / "manifest.json"
    manifest: dict[str, Any] = {"format_version": FORMAT_VERSION, "sources": {}}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
    manifest["processing"] = (
        f"mono (mean of channels), 16-bit FLAC at the source rate, leading/trailing silence "
        f"(< peak - {SILENCE_BELOW_PEAK_DB:g} dB) trimmed to {MARGIN_S:g} s, "
        f"clips under {MIN_DURATION_S:g} s dropped")
    for source in sources:
        entry = manifest["sources"].get(source.name)
        if _is_done(out, entry, source):
            print(f"{source.name}: done ({entry['files']} files), skipped", flush=True)
            continue
        try:
            manifest["sources"][source.name] = build_source(out, source, fetcher)
        except FetchError as error:
            print(f"{source.name}: SKIPPED, {error}", flush=True)
            continue
        partial = manifest_path.with_suffix(".partial")
        partial.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        os.replace(partial, manifest_path)
    return manifest


def summary(manifest: dict[str, Any]) -> str:
    lines = [f"{'source':16} {'kind':6} {'files':>6} {'minutes':>8}  rates (Hz)  package  licence"]
    for name, s in manifest["sources"].items():
        packages = ", ".join(f"{p['name']} {p['version']}" for p in s["packages"])
        lines.append(f"{name:16} {s['kind']:6} {s['files']:6d} {s['seconds'] / 60:8.1f}  "
                     f"{'/'.join(s['sample_rates_hz'])}  {packages}  {s['licence']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="download, convert, write the manifest")
    build_cmd.add_argument("--out", type=Path, required=True)
    build_cmd.add_argument("--source", action="append", choices=[s.name for s in SOURCES],
                           help="only these sources (default: all)")
    commands.add_parser("list", help="the sources and their packages")
    args = parser.parse_args(argv)
    if args.command == "list":
        for s in SOURCES:
            print(f"{s.name:16} {s.kind:6} {' + '.join('|'.join(p) for p in s.packages)}"
                  f"  ({s.licence})")
        return 0
    chosen = tuple(s for s in SOURCES if not args.source or s.name in args.source)
    manifest = build(args.out, chosen)
    print(summary(manifest))
    missing = [s.name for s in chosen if s.name not in manifest["sources"]]
    if missing:
        print(f"not built: {', '.join(missing)}", file=sys.stderr)
    return 1 if len(missing) == len(chosen) else 0


if __name__ == "__main__":
    raise SystemExit(main())
