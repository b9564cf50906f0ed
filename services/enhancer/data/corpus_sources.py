"""What `make data` takes from each Debian package, and why (the survey behind the choices).

Background speech (babble/): Fish Fillets NG's Czech dialogue (fillets-ng-data-cs), the two main
voices only
— the small and the big fish, told apart by the font each line is shown in, read from the game's
dialog scripts in fillets-ng-data. Minor characters are left out: several are voiced with
effects (statue, robot dog, parrot, computer) and one actor may voice many of them. Lines whose
noise floor sits within 20 dB of the speech are dropped (mostly the 44.1 kHz linux/keys levels).
Not a target: DNSMOS rates the kept lines ≈ 2.0 OVRL / 2.5 BAK (LibriSpeech 3.3 / 4.1), so an
enhancer trained to reproduce them would learn to keep their background; they are the voices
talking behind the speaker instead.
Surveyed and left out: fillets-ng-data-nl — clean but muffled, its 3–4 kHz band ≈ 20 dB below
LibriSpeech's and nothing above 8 kHz, a poor target for an enhancer.

Noise (noise/): OpenSFX's credited field recordings (vehicles, machinery, crowd, animals, wind;
its cartoon "Toyland" mixes and uncredited synthesized jingles left out); LinCity-NG's city
ambiences (traffic, industry, fire, water, crowds; mostly 11.025 kHz) without the ones built
around people talking (school, university, market, housing); Wesnoth's ambient loops.
Music beds (noise/, kind "music"): Colobot's and LinCity-NG's instrumental soundtracks.
Left out: Colobot's effects (synthesized sci-fi sounds) and Wesnoth's combat foley and voices.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf


@dataclass(frozen=True)
class Clip:
    """One recording to take: `read` gives (audio [T, C] float32, sample rate)."""

    original: str  # path inside the package; "<path>#<n>" for the n-th sound of a container
    name: str  # output file stem
    read: Callable[[], tuple[np.ndarray, int]]
    note: str = ""


@dataclass(frozen=True)
class Source:
    name: str  # the folder under clean/, babble/ or noise/
    kind: str  # "speech" (→ clean/), "babble" (→ babble/), "noise" or "music" (→ noise/)
    packages: tuple[tuple[str, ...], ...]  # per slot, alternative names: the first that exists
    licence: str
    select: Callable[[list[Path]], list[Clip]]  # extracted roots, one per slot → clips
    recipe: int = 1  # bump when the selection or processing changes: the source is rebuilt
    min_dynamic_range_db: float | None = None  # speech: drop lines noisier than this

    @property
    def folder(self) -> str:
        top = {"speech": "clean", "babble": "babble"}.get(self.kind, "noise")
        return f"{top}/{self.name}"


def decode(path: Path) -> tuple[np.ndarray, int]:
    """Any audio file → (float32 [T, C], rate): libsndfile, else PyAV (FFmpeg)."""
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return audio, int(rate)
    except (sf.LibsndfileError, RuntimeError):
        import av

        chunks = []
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            rate = int(stream.rate)
            planar = av.AudioResampler(format="fltp")  # [channels, samples] float32 frames
            for frame in container.decode(stream):
                chunks += [f.to_ndarray() for f in planar.resample(frame)]
            chunks += [f.to_ndarray() for f in planar.resample(None)]
        return np.concatenate(chunks, axis=1).T.astype(np.float32), rate


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def glob_clips(pattern: str, prefix: str, exclude: str | None = None
               ) -> Callable[[list[Path]], list[Clip]]:
    """Every file matching `pattern` in the first package, except names matching `exclude`."""

    def select(roots: list[Path]) -> list[Clip]:
        root = roots[0]
        skip = re.compile(exclude) if exclude else None
        return [Clip(str(p.relative_to(root)), f"{prefix}__{_slug(p.stem)}", partial(decode, p))
                for p in sorted(root.glob(pattern)) if not (skip and skip.search(p.name))]

    return select


# ---- Fish Fillets NG: sound/<level>/<lang>/<line id>.ogg, script/<level>/dialogs*.lua ---------

_FILLETS = "usr/share/games/fillets-ng"
_DIALOG = re.compile(r'dialogId\(\s*"([^"]+)"\s*,\s*"?([A-Za-z0-9_]+)"?')
FILLETS_CHARACTERS = {"font_small": "small", "font_big": "big"}


def _dialog_fonts(script_dir: Path) -> dict[tuple[str, str], set[str]]:
    """(level, line id) → the fonts the line is shown in (one per speaking character)."""
    fonts: dict[tuple[str, str], set[str]] = {}
    for path in sorted(script_dir.rglob("*.lua")):
        for match in _DIALOG.finditer(path.read_text("utf-8", "replace")):
            fonts.setdefault((path.parent.name, match.group(1)), set()).add(match.group(2))
    return fonts


def fillets_clips(language: str) -> Callable[[list[Path]], list[Clip]]:
    """Lines of the two main voices in one language; roots: (voices package, data package)."""

    def select(roots: list[Path]) -> list[Clip]:
        voices, data = roots
        fonts = _dialog_fonts(data / _FILLETS / "script")
        by_id: dict[str, set[str]] = {}
        for (_, line), found in fonts.items():
            by_id.setdefault(line, set()).update(found)
        clips = []
        for path in sorted((voices / _FILLETS / "sound").rglob(f"{language}/*.ogg")):
            level = path.parent.parent.name
            # A few levels reuse another level's script: then the id alone must be unambiguous.
            found = fonts.get((level, path.stem)) or by_id.get(path.stem, set())
            character = FILLETS_CHARACTERS.get(next(iter(found))) if len(found) == 1 else None
            if character is None:
                continue
            name = f"fillets-{language}__{character}__{_slug(level)}__{_slug(path.stem)}"
            clips.append(Clip(str(path.relative_to(voices)), name, partial(decode, path),
                              note=f"{character} fish"))
        return clips

    return select


# ---- OpenSFX: one .cat file of RIFF WAVs, each preceded by its credit line --------------------

def opensfx_entries(cat: bytes) -> list[tuple[str, bytes]]:
    """(credit, WAV bytes) of every sound in an OpenTTD sample .cat file."""
    count = (struct.unpack_from("<I", cat, 0)[0] & 0x7FFFFFFF) // 8
    entries = []
    for i in range(count):
        offset, size = struct.unpack_from("<II", cat, 8 * i)
        offset &= 0x7FFFFFFF
        name_len = cat[offset]
        credit = cat[offset + 1: offset + 1 + name_len].rstrip(b"\0").decode("utf-8", "replace")
        entries.append((credit, cat[offset + 1 + name_len: offset + size]))
    return entries


def opensfx_clips(roots: list[Path]) -> list[Clip]:
    """Credited recordings ('Original "<file>" by ...'), not the cartoon Toyland mixes."""
    import io

    relative = "usr/share/games/openttd/baseset/opensfx/opensfx.cat"
    entries = opensfx_entries((roots[0] / relative).read_bytes())
    clips = []
    for i, (credit, wav) in enumerate(entries):
        if 'Original "' not in credit or credit.startswith('"Toyland'):
            continue
        title = credit.split('"')[1]

        def read(wav: bytes = wav) -> tuple[np.ndarray, int]:
            audio, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
            return audio, int(rate)

        clips.append(Clip(f"{relative}#{i}", f"opensfx__{i:02d}-{_slug(title)}", read, credit))
    return clips


_WESNOTH = ("wesnoth-1.16-data", "wesnoth-1.18-data", "wesnoth-1.14-data")
_LINCITY_PEOPLE = r"^(Click|Window|School|University|Health|Commune|Market|Residential|Shanty)"

SOURCES: tuple[Source, ...] = (
    Source("fillets-cs", "babble", (("fillets-ng-data-cs",), ("fillets-ng-data",)),
           "GPL-2 (Fish Fillets NG data, ALTAR interactive and the fillets-ng authors)",
           fillets_clips("cs"), min_dynamic_range_db=20.0),
    Source("opensfx", "noise", (("openttd-opensfx",),),
           "CC BY-SA 3.0 (OpenSFX); each file's note gives its original and that one's licence",
           opensfx_clips),
    Source("lincity", "noise", (("lincity-ng-data",),), "GPL-2+",
           glob_clips("usr/share/games/lincity-ng/sounds/*.wav", "lincity", _LINCITY_PEOPLE)),
    Source("wesnoth-ambient", "noise", (_WESNOTH,), "GPL-2+",
           glob_clips("usr/share/games/wesnoth/*/data/core/sounds/ambient/*.ogg", "wesnoth")),
    Source("colobot-music", "music", (("colobot-common-sounds",),), "GPL-3+",
           glob_clips("usr/share/games/colobot/music/*.ogg", "colobot")),
    Source("lincity-music", "music", (("lincity-ng-data",),), "GPL-2+",
           glob_clips("usr/share/games/lincity-ng/music/**/*.ogg", "lincity-music")),
)
