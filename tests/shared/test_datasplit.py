"""The speaker split: speaker ids per corpus, the RAVDESS hold-out, and a pin on the held-out
sets of the real recordings (moving or extending the split must not change them)."""

from __future__ import annotations

import hashlib

import pytest

from shared.datasplit import is_eval_file, is_eval_speaker, ravdess_eval_actors, speaker_of


@pytest.mark.parametrize(("name", "speaker"), [
    ("resemblyzer__audio_data__librispeech_test-other__1688-142285-0000.wav", "libri-1688"),
    ("demopage__p360_001_mic1.flac", "vctk-p360"),
    ("TTS__tests__data__ljspeech__wavs__LJ001-0001.wav", "ljspeech"),
    ("pyroomacoustics__cmu_arctic_us_axb_a0005.wav", "arctic-axb"),
    ("ravdess__Actor_07__03-01-05-02-01-01-07.flac", "ravdess-07"),
    ("ravdess__Actor_24__03-01-01-01-02-01-24.flac", "ravdess-24"),
    ("fillets-cs__small__city__vit-m-hlava.flac", "fillets-cs-small"),
    ("fillets-cs__big__borejokes__bj-v-p250.flac", "fillets-cs-big"),  # not VCTK's p250
    ("some_unknown_recording.wav", "file-some_unknown_recording"),
])
def test_speaker_of(name, speaker):
    assert speaker_of(f"/any/folder/{name}") == speaker


def test_existing_sides_unchanged():
    # p225 / p226 train, p227 held out: the U-Net tests and the evaluation rely on these
    assert [is_eval_speaker(f"p22{i}_001.wav") for i in (5, 6, 7)] == [False, False, True]
    assert not is_eval_speaker("LJ001-0001.wav")
    assert is_eval_file("x.wav") == (hashlib.sha1(b"x.wav").digest()[0] < 104)


def test_ravdess_holds_out_both_sexes():
    held = ravdess_eval_actors()
    assert held == (4, 19, 23, 24)  # even ids are women, odd ids men
    assert {a % 2 for a in held} == {0, 1}
    for actor in range(1, 25):
        name = f"ravdess__Actor_{actor:02d}__03-01-01-01-01-01-{actor:02d}.flac"
        assert is_eval_speaker(name) == (actor in held)


def test_fillets_voices_are_speakers_not_files():
    lines = [f"fillets-cs__big__level{i}__line{i}.flac" for i in range(20)]
    assert len({is_eval_speaker(n) for n in lines}) == 1


def _digest(names: list[str]) -> tuple[int, str]:
    return len(names), hashlib.sha1("\n".join(sorted(names)).encode()).hexdigest()[:16]


@pytest.mark.data
def test_held_out_sets_of_the_real_recordings_are_pinned(data_dir):
    """The evaluation sets as they were under evaluation/split.py. A new recording of a new
    speaker changes this on purpose; anything else means the split rule moved."""
    clean = [p.name for p in (data_dir / "clean").iterdir() if is_eval_speaker(p)]
    noise = [p.name for p in (data_dir / "noise").iterdir() if is_eval_file(p)]
    rir = [p.name for p in (data_dir / "rir").iterdir() if is_eval_file(p)]
    assert _digest(clean) == (74, "8e4b876780315e83")
    assert _digest(noise) == (4, "6179e962829934b7")
    assert _digest(rir) == (5, "c69112994b14569f")
