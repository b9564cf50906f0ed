"""The generated paired evaluation set: held-out clean speech × real noise × rooms × devices.

Deterministic: item i draws everything from `numpy.random.default_rng([seed, i])`, so the same
seed gives the same audio bit for bit, and `--limit n` gives exactly the first n items of the
full set. The conditions follow a balanced design rather than chance:
    SNR    = snrs_db[i % 5]
    reverb = ("none", "measured", "simulated")[(i // 5) % 3]
    device = (i // 15) % 2 == 1
    codec  = ("none", "opus", "none", "aac", "none", "amr")[i % 6]
so every 30 items hold each SNR × reverb × device cell once, and every 30 each SNR × codec slot
(half the items pass through a phone codec at a low bitrate, after the device colouration).
The set is written once (float WAV + manifest.json) to a cache folder keyed by the config and
the data files, then reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from evaluation import degrade, rooms
from evaluation.folder import load_mono_16k
from evaluation.items import EVAL_RATE_HZ, EvalItem, rt60_bucket, snr_bucket, voice_f0_bucket
from evaluation.metrics import snr_db
from evaluation.sources import eval_clean_files, eval_noise_files, eval_rir_files, gender_of
from shared.datasplit import speaker_of

MANIFEST_VERSION = 3  # bump on any change to how items are made: it keys the cache


@dataclass(frozen=True)
class EvalSetConfig:
    seed: int = 20_261_125
    n_items: int = 60
    segment_s: tuple[float, float] = (4.6, 5.6)  # DNSMOS tiles clips to 9 s: 2 copies, 1-3 hops
    min_clean_s: float = 3.0
    snrs_db: tuple[float, ...] = (-5.0, 0.0, 5.0, 10.0, 20.0)
    rt60s_s: tuple[float, ...] = (0.3, 0.6, 0.9)
    rooms_per_rt60: int = 2
    speech_level_dbfs: tuple[float, float] = (-32.0, -20.0)


FULL_CONFIG = EvalSetConfig(n_items=240)


def _fingerprint(config: EvalSetConfig, data_dir: Path) -> str:
    files = eval_clean_files(data_dir) + eval_noise_files(data_dir)[0] + eval_rir_files(data_dir)
    listing = [(p.parent.name, p.name, p.stat().st_size) for p in files]
    blob = json.dumps([MANIFEST_VERSION, dataclasses.asdict(config), listing], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


CODEC_PLAN = ("none", "opus", "none", "aac", "none", "amr")


def _design(i: int, config: EvalSetConfig) -> tuple[float, str, bool, str]:
    n_snr = len(config.snrs_db)
    snr = config.snrs_db[i % n_snr]
    reverb = ("none", "measured", "simulated")[(i // n_snr) % 3]
    device = (i // (n_snr * 3)) % 2 == 1
    return snr, reverb, device, CODEC_PLAN[i % len(CODEC_PLAN)]


def _codec_round_trip(audio: np.ndarray, codec: str, rng: np.random.Generator) -> np.ndarray:
    """The training pipeline's codec round trip (realigned to the input), by short name."""
    from services.enhancer.data.degrade import CODECS, codec_round_trip

    index = next(i for i, c in enumerate(CODECS) if codec in c[0])
    return codec_round_trip(audio, EVAL_RATE_HZ, rng, codec_index=index)


def noise_kind(noise_path: Path) -> str:
    """A short name for a noise recording: the last part of its file stem."""
    return noise_path.stem.rsplit("__", 1)[-1]


def _pick_segment(clean: np.ndarray, length: int, rng: np.random.Generator) -> int:
    """Start of a segment that is mostly speech: at least half of its 20 ms frames within 40 dB
    of the file's loudest frame (best of ten tries)."""
    if len(clean) <= length:
        return 0
    frame = EVAL_RATE_HZ // 50
    n_frames = len(clean) // frame
    energy_db = 10 * np.log10(
        np.mean(clean[: n_frames * frame].reshape(n_frames, frame) ** 2, 1) + 1e-12
    )
    active = energy_db > energy_db.max() - 40
    best_start, best_share = 0, -1.0
    for _ in range(10):
        start = int(rng.integers(0, len(clean) - length + 1))
        share = float(active[start // frame : (start + length) // frame].mean())
        if share > best_share:
            best_start, best_share = start, share
        if share >= 0.5:
            break
    return best_start


@dataclass(frozen=True)
class _Materials:
    """Everything items are drawn from, loaded once per generation."""

    clean_files: list[Path]
    clean_order: np.ndarray
    noises: dict[Path, np.ndarray]
    noise_held_out: bool
    measured: list[rooms.RoomResponse]
    simulated: list[rooms.RoomResponse]


def _materials(config: EvalSetConfig, data_dir: Path) -> _Materials:
    clean_files = [
        p for p in eval_clean_files(data_dir) if sf.info(str(p)).duration >= config.min_clean_s
    ]
    noise_files, noise_held_out = eval_noise_files(data_dir)
    if not clean_files or not noise_files:
        raise FileNotFoundError(f"{data_dir}: need clean/ speech of eval speakers and noise/ files")
    return _Materials(
        clean_files=clean_files,
        clean_order=np.random.default_rng([config.seed, 1]).permutation(len(clean_files)),
        noises={p: load_mono_16k(p) for p in noise_files},
        noise_held_out=noise_held_out,
        measured=[rooms.load_measured(p, EVAL_RATE_HZ) for p in eval_rir_files(data_dir)],
        simulated=[
            rooms.simulate(rt60, config.seed + k, EVAL_RATE_HZ)
            for rt60 in config.rt60s_s
            for k in range(config.rooms_per_rt60)
        ],
    )


def _make_item(
    i: int, config: EvalSetConfig, m: _Materials, data_dir: Path
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Item i: (noisy, clean, manifest entry). Draws only from rng([seed, 1000 + i])."""
    rng = np.random.default_rng([config.seed, 1000 + i])
    target_snr_db, reverb_kind, device, codec = _design(i, config)
    clean_path = m.clean_files[int(m.clean_order[i % len(m.clean_order)])]
    source = load_mono_16k(clean_path)
    length = int(rng.uniform(*config.segment_s) * EVAL_RATE_HZ)
    start = _pick_segment(source, length, rng)
    clean = source[start : start + length].astype(np.float64)
    clean *= 10 ** (rng.uniform(*config.speech_level_dbfs) / 20) / degrade.rms(clean)

    room = None
    if reverb_kind == "measured" and m.measured:
        room = m.measured[int(rng.integers(len(m.measured)))]
    elif reverb_kind != "none":
        room = m.simulated[int(rng.integers(len(m.simulated)))]
    speech = rooms.reverberate(clean, room) if room else clean.astype(np.float32)
    noise_paths = list(m.noises)
    noise_path = noise_paths[int(rng.integers(len(noise_paths)))]
    noise = degrade.noise_segment(m.noises[noise_path], len(clean), rng)
    noisy = degrade.mix_at_snr(speech, noise, target_snr_db)
    device_params = degrade.device_response(rng, EVAL_RATE_HZ) if device else None
    if device_params:
        noisy = degrade.apply_device(noisy, device_params, EVAL_RATE_HZ)
    if codec != "none":
        noisy = _codec_round_trip(noisy, codec, rng)
    peak = float(np.max(np.abs(noisy)))
    scale = min(1.0, 0.89 / peak) if peak > 0 else 1.0  # keep 1 dB of headroom, same gain
    noisy, clean = (noisy * scale).astype(np.float32), (clean * scale).astype(np.float32)

    item_id = f"gen{i:04d}"
    rel_clean = f"clean/{clean_path.name}"
    entry = {
        "id": item_id,
        "noisy": f"noisy/{item_id}.wav",
        "clean": f"clean/{item_id}.wav",
        "duration_s": round(len(clean) / EVAL_RATE_HZ, 3),
        "conditions": {
            "snr": snr_bucket(target_snr_db),
            "reverb": "none" if room is None else rt60_bucket(room.rt60_s),
            "device": "yes" if device_params else "no",
            "codec": codec,
            "noise": noise_kind(noise_path),
            "gender": gender_of(data_dir, rel_clean),
            "voice_f0": voice_f0_bucket(clean),
            "kind": "generated",
        },
        "provenance": {
            "speaker": speaker_of(clean_path),
            "clean_file": rel_clean,
            "clean_offset_s": round(start / EVAL_RATE_HZ, 4),
            "noise_file": f"noise/{noise_path.name}",
            "noise_held_out": m.noise_held_out,
            "target_snr_db": target_snr_db,
            # against the dry reference, so reverberation counts as distortion here
            "input_snr_db": round(snr_db(clean, noisy), 2),
            "rir": room.rir_id if room else None,
            "rt60_s": round(room.rt60_s, 3) if room else None,
            "target_rt60_s": room.target_rt60_s if room else None,
            "device": device_params,
        },
        "sha1": {"noisy": _sha1(noisy), "clean": _sha1(clean)},
    }
    return noisy, clean, entry


def generate(config: EvalSetConfig, data_dir: Path, out_dir: Path) -> Path:
    """Write the set to out_dir/{noisy,clean}/<id>.wav and out_dir/manifest.json; returns the
    manifest path."""
    materials = _materials(config, data_dir)
    (out_dir / "noisy").mkdir(parents=True, exist_ok=True)
    (out_dir / "clean").mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(config.n_items):
        noisy, clean, entry = _make_item(i, config, materials, data_dir)
        for kind, audio in (("noisy", noisy), ("clean", clean)):
            sf.write(out_dir / entry[kind], audio, EVAL_RATE_HZ, subtype="FLOAT")
        entries.append(entry)
    manifest = {
        "version": MANIFEST_VERSION,
        "config": dataclasses.asdict(config),
        "data_dir": str(data_dir),
        "sample_rate_hz": EVAL_RATE_HZ,
        "noise_files": [f"noise/{p.name}" for p in materials.noises],
        "noise_held_out": materials.noise_held_out,
        "rooms": [
            {"id": r.rir_id, "rt60_s": round(r.rt60_s, 3), "target_rt60_s": r.target_rt60_s}
            for r in materials.measured + materials.simulated
        ],
        "items": entries,
    }
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return path


def _sha1(audio: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(audio, dtype=np.float32).tobytes()).hexdigest()


def default_cache_dir() -> Path:
    import os

    base = os.environ.get("SPEAKUP_CACHE_DIR") or Path.home() / ".cache" / "speakup"
    return Path(base) / "evalset"


def ensure_generated(config: EvalSetConfig, data_dir: Path, cache_dir: Path | None = None) -> Path:
    """The manifest of this config's set, generating it first when not cached."""
    out_dir = (cache_dir or default_cache_dir()) / _fingerprint(config, data_dir)
    manifest = out_dir / "manifest.json"
    if not manifest.is_file():
        # written beside and renamed, so an interrupted run never leaves a half set in use
        import shutil

        tmp = out_dir.with_name(out_dir.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(out_dir, ignore_errors=True)
        generate(config, data_dir, tmp)
        tmp.replace(out_dir)
    return manifest


def load_generated(manifest_path: Path, limit: int | None = None) -> list[EvalItem]:
    manifest = json.loads(manifest_path.read_text())
    root = manifest_path.parent
    items = []
    for entry in manifest["items"][:limit]:
        noisy, _ = sf.read(root / entry["noisy"], dtype="float32")
        clean, _ = sf.read(root / entry["clean"], dtype="float32")
        conditions = dict(entry["conditions"])
        prov = entry["provenance"]
        conditions["source"] = prov["clean_file"]
        conditions["noise_file"] = prov["noise_file"]
        conditions["rir"] = str(prov["rir"])
        conditions["input_snr_db"] = f"{prov['input_snr_db']:.1f}"
        items.append(EvalItem(f"generated/{entry['id']}", "generated", noisy, clean, conditions))
    return items
