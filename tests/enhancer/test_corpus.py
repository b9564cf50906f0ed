"""The corpus builder (`make data`) on fabricated package trees: nothing here downloads."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from services.enhancer.data import corpus, debs
from services.enhancer.data.corpus_sources import (
    SOURCES,
    Source,
    fillets_clips,
    glob_clips,
    opensfx_clips,
    opensfx_entries,
)
from services.enhancer.data.debs import FetchError, FolderFetcher
from shared.datasplit import speaker_of

SOUNDS = "usr/share/games/fake/sounds"


def _noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * rate)) * 0.1
            ).astype(np.float32)


def _speech_like(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Syllable-like bursts with real pauses between them (a wide dynamic range)."""
    t = np.arange(int(seconds * rate)) / rate
    bursts = (np.sin(2 * np.pi * 3 * t) > 0.3).astype(np.float32)
    return _noise(seconds, rate, seed) * bursts


def _package(tmp_path: Path) -> Path:
    root = tmp_path / "fake-sounds"
    sounds = root / SOUNDS
    sounds.mkdir(parents=True)
    sf.write(sounds / "rain.wav", _noise(2.0, 16000), 16000)
    stereo = np.stack([_noise(1.5, 22050, 1), _noise(1.5, 22050, 2)], axis=1)
    sf.write(sounds / "traffic.ogg", stereo, 22050, format="OGG", subtype="VORBIS")
    sf.write(sounds / "click.wav", _noise(0.3, 16000), 16000)  # too short
    padded = np.concatenate([np.zeros(32000), _noise(1.0, 16000, 3), np.zeros(32000)])
    sf.write(sounds / "padded.wav", padded.astype(np.float32), 16000)
    sf.write(sounds / "nothing.wav", np.zeros(32000, dtype=np.float32), 16000)
    (sounds / "broken.wav").write_bytes(b"RIFF\x00\x01garbage" * 10)
    (root / "usr/share/doc/fake-sounds").mkdir(parents=True)
    (root / "usr/share/doc/fake-sounds/copyright").write_text("License: GPL-2+\n")
    return root


FAKE = Source("fake-noise", "noise", (("fake-sounds-2.0", "fake-sounds"),), "GPL-2+",
              glob_clips(f"{SOUNDS}/*", "fake"))


def test_build_converts_trims_drops_and_lists_every_file(tmp_path):
    out = tmp_path / "corpus"
    fetcher = FolderFetcher({"fake-sounds": (_package(tmp_path), "1.0-1")})
    manifest = corpus.build(out, (FAKE,), fetcher)

    entry = manifest["sources"]["fake-noise"]
    assert entry["packages"][0]["name"] == "fake-sounds"  # the first alternative is missing
    assert entry["packages"][0]["version"] == "1.0-1"
    assert entry["licence"] == "GPL-2+" and entry["folder"] == "noise/fake-noise"
    assert entry["dropped"] == {"too_short": 1, "silent": 1, "unreadable": 1}
    assert {e["original"] for e in entry["entries"]} == {
        f"{SOUNDS}/rain.wav", f"{SOUNDS}/traffic.ogg", f"{SOUNDS}/padded.wav"}
    assert entry["files"] == 3 and entry["sample_rates_hz"] == {"16000": 2, "22050": 1}
    assert entry["seconds"] == pytest.approx(sum(e["seconds"] for e in entry["entries"]), abs=0.1)
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert (out / "licences/fake-sounds.copyright").read_text() == "License: GPL-2+\n"

    for item in entry["entries"]:
        info = sf.info(str(out / item["file"]))
        assert (info.format, info.subtype, info.channels) == ("FLAC", "PCM_16", 1)
        assert info.samplerate == item["sample_rate_hz"]
    padded = next(e for e in entry["entries"] if e["original"].endswith("padded.wav"))
    assert padded["seconds"] == pytest.approx(1.0 + 2 * corpus.MARGIN_S, abs=0.02)


def test_second_build_is_a_no_op(tmp_path):
    out = tmp_path / "corpus"
    corpus.build(out, (FAKE,), FolderFetcher({"fake-sounds": (_package(tmp_path), "1.0-1")}))
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}

    class NoFetch:
        def fetch(self, name: str) -> debs.Package:
            raise AssertionError("a finished source is fetched again")

        def release(self, package: debs.Package) -> None:
            pass

    corpus.build(out, (FAKE,), NoFetch())
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_an_interrupted_build_resumes_and_a_lost_file_is_rebuilt(tmp_path):
    out = tmp_path / "corpus"
    fetcher = FolderFetcher({"fake-sounds": (_package(tmp_path), "1.0-1")})
    first = corpus.build(out, (FAKE,), fetcher)["sources"]["fake-noise"]
    (out / first["entries"][0]["file"]).unlink()
    again = corpus.build(out, (FAKE,), fetcher)["sources"]["fake-noise"]
    assert again["entries"] == first["entries"]


def test_missing_package_or_apt_skips_the_source_with_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(debs.shutil, "which", lambda tool: None)
    manifest = corpus.build(tmp_path / "corpus", (FAKE,), debs.AptFetcher(tmp_path / "cache"))
    assert manifest["sources"] == {}
    assert "fake-noise: SKIPPED" in capsys.readouterr().out
    with pytest.raises(FetchError, match="apt-get not found"):
        debs.AptFetcher(tmp_path / "cache").fetch("fake-sounds")


def test_refuses_to_write_into_the_repository_outside_var():
    with pytest.raises(SystemExit, match="refusing"):
        corpus.build(corpus.REPO_ROOT / "services" / "corpus", (FAKE,), FolderFetcher({}))


def test_fillets_keeps_the_two_main_voices_by_their_dialog_font(tmp_path):
    voices, data = tmp_path / "voices", tmp_path / "data"
    sound = voices / "usr/share/games/fillets-ng/sound"
    lines = {"city/cs/vit-m-ahoj": 0, "city/cs/vit-v-ne": 1, "city/cs/vit-hs-vitejte": 2,
             "share/borejokes/cs/bj-m-vtip": 3, "city/cs/vit-x-zvuk": 4}
    for line, seed in lines.items():
        (sound / line).parent.mkdir(parents=True, exist_ok=True)
        sf.write(sound / f"{line}.ogg", _speech_like(1.5, 22050, seed), 22050,
                 format="OGG", subtype="VORBIS")
    noisy = _speech_like(1.5, 22050, 5) + _noise(1.5, 22050, 6)  # no pauses left: dropped
    sf.write(sound / "city/cs/vit-m-hluk.ogg", noisy, 22050, format="OGG", subtype="VORBIS")
    script = data / "usr/share/games/fillets-ng/script"
    (script / "city").mkdir(parents=True)
    (script / "share").mkdir(parents=True)
    (script / "city/dialogs.lua").write_text(
        'dialogId("vit-m-ahoj", "font_small", "Hello.")\n'
        'dialogId("vit-m-hluk", "font_small", "Noise.")\n'
        'dialogId("vit-v-ne", "font_big", "No.")\n'
        'dialogId("vit-hs-vitejte", "font_statue", "Welcome.")\n')
    (script / "share/bore_dialogs.lua").write_text('dialogId("bj-m-vtip", "font_small", "Joke")\n')

    clips = fillets_clips("cs")([voices, data])
    assert sorted(c.name for c in clips) == [
        "fillets-cs__big__city__vit-v-ne", "fillets-cs__small__borejokes__bj-m-vtip",
        "fillets-cs__small__city__vit-m-ahoj", "fillets-cs__small__city__vit-m-hluk"]
    source = next(s for s in SOURCES if s.name == "fillets-cs")
    fetcher = FolderFetcher({"fillets-ng-data-cs": (voices, "1"), "fillets-ng-data": (data, "1")})
    entry = corpus.build(tmp_path / "corpus", (source,), fetcher)["sources"]["fillets-cs"]
    assert entry["dropped"] == {"noisy": 1} and entry["files"] == 3
    assert {speaker_of(e["file"]) for e in entry["entries"]} == {"fillets-cs-small",
                                                                  "fillets-cs-big"}
    assert all(e["file"].startswith("babble/fillets-cs/") for e in entry["entries"])


def _cat(sounds: list[tuple[str, bytes]]) -> bytes:
    header = 8 * len(sounds)
    table, body = b"", b""
    for credit, wav in sounds:
        name = credit.encode() + b"\0"
        chunk = bytes([len(name)]) + name + wav
        table += struct.pack("<II", (header + len(body)) | (0x80000000 if not table else 0),
                             len(chunk))
        body += chunk
    return table + body


def _wav(seconds: float, seed: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, _noise(seconds, 44100, seed), 44100, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_opensfx_takes_credited_recordings_only(tmp_path):
    sounds = [('"Ship horn". Original "ship.aif" by Leon Milo. License: CC BY 3.0.', _wav(1.2, 0)),
              ('"Toyland: Bubble". Original "b.wav" by "x". License: CC0.', _wav(1.0, 1)),
              ('"Beep". By Janis Lukss. License: CC BY 3.0.', _wav(0.1, 2))]
    assert [c for c, _ in opensfx_entries(_cat(sounds))] == [c for c, _ in sounds]
    cat = tmp_path / "usr/share/games/openttd/baseset/opensfx/opensfx.cat"
    cat.parent.mkdir(parents=True)
    cat.write_bytes(_cat(sounds))
    clips = opensfx_clips([tmp_path])
    assert [c.name for c in clips] == ["opensfx__00-Ship-horn"]
    assert clips[0].original.endswith("opensfx.cat#0") and "Leon Milo" in clips[0].note
    audio, rate = clips[0].read()
    assert rate == 44100 and audio.shape == (int(1.2 * 44100), 1)
