"""The generated evaluation set: deterministic, held-out material only, aligned references."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from evaluation import dataset
from evaluation.metrics import snr_db
from shared.datasplit import is_eval_file, is_eval_speaker

# one SNR, so items 0/1/2 are no reverb / measured room / simulated room, item 3 adds a device;
# items 1 and 3 pass through Opus and AAC (dataset.CODEC_PLAN)
CONFIG = dataset.EvalSetConfig(n_items=4, snrs_db=(5.0,), rt60s_s=(0.3,), rooms_per_rt60=1)


@pytest.fixture(scope="module")
def generated(data_dir, tmp_path_factory):
    first = dataset.generate(CONFIG, data_dir, tmp_path_factory.mktemp("a"))
    second = dataset.generate(CONFIG, data_dir, tmp_path_factory.mktemp("b"))
    return first, second


def _audio(manifest_path, relative):
    audio, rate_hz = sf.read(manifest_path.parent / relative, dtype="float32")
    assert rate_hz == 16_000
    return audio


def test_same_seed_gives_identical_manifest_and_audio(generated):
    first, second = generated
    assert first.read_text() == second.read_text()
    for entry in json.loads(first.read_text())["items"]:
        for kind in ("noisy", "clean"):
            a, b = _audio(first, entry[kind]), _audio(second, entry[kind])
            np.testing.assert_array_equal(a, b)
            assert dataset._sha1(a) == entry["sha1"][kind]


def test_another_seed_gives_other_audio(data_dir, tmp_path, generated):
    import dataclasses

    other = dataset.generate(dataclasses.replace(CONFIG, seed=7, n_items=1), data_dir, tmp_path)
    a = json.loads(other.read_text())["items"][0]["sha1"]["noisy"]
    b = json.loads(generated[0].read_text())["items"][0]["sha1"]["noisy"]
    assert a != b


def test_only_held_out_speakers_noise_and_rooms(generated):
    manifest = json.loads(generated[0].read_text())
    for entry in manifest["items"]:
        prov = entry["provenance"]
        assert is_eval_speaker(prov["clean_file"])
        if manifest["noise_held_out"]:
            assert is_eval_file(prov["noise_file"])
        if prov["rir"] and prov["rir"].startswith("measured:"):
            assert is_eval_file(prov["rir"].split(":", 1)[1])


def test_conditions_follow_the_design_and_are_recorded(generated):
    entries = json.loads(generated[0].read_text())["items"]
    assert [e["conditions"]["snr"] for e in entries] == ["+5 dB"] * 4
    assert entries[0]["conditions"]["reverb"] == "none"
    assert entries[1]["provenance"]["rir"].startswith("measured:")
    assert entries[2]["provenance"]["rir"].startswith("simulated:")
    assert [e["conditions"]["device"] for e in entries] == ["no", "no", "no", "yes"]
    assert [e["conditions"]["codec"] for e in entries] == ["none", "opus", "none", "aac"]
    assert all(e["conditions"]["noise"] for e in entries)
    for entry in entries:
        assert entry["conditions"]["gender"] in ("female", "male", "unknown")
        assert 4.6 <= entry["duration_s"] <= 5.6 or entry["duration_s"] >= 3.0


def _xcorr(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """corr[lag] for lag = 0..n-1 then -(n)..-1 (noisy behind clean is positive)."""
    n = len(clean)
    return np.fft.irfft(np.fft.rfft(noisy, 2 * n) * np.conj(np.fft.rfft(clean, 2 * n)))


def test_dry_items_have_the_target_snr_and_zero_lag(generated):
    manifest_path = generated[0]
    entries = json.loads(manifest_path.read_text())["items"]
    clean, noisy = (_audio(manifest_path, entries[0][k]) for k in ("clean", "noisy"))
    assert snr_db(clean, noisy) == pytest.approx(5.0, abs=0.01)
    for entry in (entries[0], entries[3]):  # no room; item 3 through a device's filter + AAC
        clean, noisy = (_audio(manifest_path, entry[k]) for k in ("clean", "noisy"))
        assert int(np.argmax(_xcorr(clean, noisy))) == 0, entry["id"]
        assert np.max(np.abs(noisy)) < 0.9


def test_reverberant_items_never_precede_the_reference(generated):
    """The room's direct path sits at lag 0: nothing of the speech arrives earlier, so the
    correlation at every negative lag (up to 50 ms) stays well below the one at lag 0."""
    manifest_path = generated[0]
    for entry in json.loads(manifest_path.read_text())["items"][1:3]:
        clean, noisy = (_audio(manifest_path, entry[k]) for k in ("clean", "noisy"))
        corr = _xcorr(clean, noisy)
        early = corr[-800:]  # lags -50 ms .. -1 sample
        assert corr[0] > 0
        assert np.max(early) < corr[0], entry["id"]


def test_limit_gives_the_first_items_of_the_bigger_set(data_dir, tmp_path, generated):
    import dataclasses

    small = dataset.generate(dataclasses.replace(CONFIG, n_items=2), data_dir, tmp_path)
    big = json.loads(generated[0].read_text())["items"]
    assert [e["sha1"] for e in json.loads(small.read_text())["items"]] == [
        e["sha1"] for e in big[:2]
    ]
