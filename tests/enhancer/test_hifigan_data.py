"""Data readers on fabricated trees in each dataset's published layout (one or several roots),
and degradation regression tests (pre-delay removed, gains vary, DRR hit, validation
deterministic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from services.enhancer.data import degrade
from services.enhancer.data.dataset import Degrader, DegradeSettings, load_plain_folders
from services.enhancer.data.readers import (
    PlainFolders,
    ace_noise,
    ace_rirs,
    daps_pairs,
    load_audio,
    reverb_noise,
    reverb_rirs,
)
from shared.datasplit import is_eval_file, is_eval_speaker

RATE = 16_000


def _write(path: Path, seconds: float = 0.2, rate: int = RATE, channels: int = 1,
           seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).standard_normal((int(seconds * rate), channels)) * 0.1
    sf.write(path, data.astype(np.float32), rate)


def test_daps_pairs_device_recordings_with_studio_takes(tmp_path):
    for spk in ("f1", "m3"):
        _write(tmp_path / "clean" / f"{spk}_script1_clean.wav", rate=44_100)
        for cond in ("ipad_livingroom1", "iphone_balcony1"):
            _write(tmp_path / cond / f"{spk}_script1_{cond}.wav", rate=44_100)
    _write(tmp_path / "ipad_livingroom1" / "f1_script2_ipad_livingroom1.wav")  # no clean take
    pairs = daps_pairs(tmp_path)
    assert len(pairs) == 4
    pair = next(p for p in pairs if p.speaker == "f1" and p.condition == "ipad_livingroom1")
    assert pair.clean.name == "f1_script1_clean.wav"
    assert pair.degraded.name == "f1_script1_ipad_livingroom1.wav"
    train, held = daps_pairs(tmp_path, "train"), daps_pairs(tmp_path, "eval")
    assert len(train) + len(held) == 4
    assert all(is_eval_speaker(f"daps-{p.speaker}") for p in held)


def test_ace_noise_and_rirs(tmp_path):
    room = tmp_path / "Single" / "Office_1" / "1"
    for kind in ("RIR", "Ambient", "Babble", "Fan"):
        _write(room / f"Single_502_1_{kind}.wav")
    assert sorted(p.stem.rsplit("_", 1)[1] for p in ace_noise(tmp_path)) == ["Ambient", "Babble",
                                                                             "Fan"]
    assert [p.name for p in ace_rirs(tmp_path)] == ["Single_502_1_RIR.wav"]


def test_reverb_challenge_rirs_first_channel(tmp_path):
    rir_dir = tmp_path / "reverb_tools_for_Generate_mcTrainData" / "RIR"
    _write(rir_dir / "RIR_SmallRoom1_near_AnglA.wav", channels=8)
    _write(rir_dir / "RIR_LargeRoom1_far_AnglB.wav", channels=8)
    _write(rir_dir / "notes.wav")
    _write(tmp_path / "reverb_tools_for_Generate_mcTrainData" / "NOISE" / "Noise_SmallRoom1_1.wav")
    rirs = reverb_rirs(tmp_path)
    assert [p.name for p in rirs] == ["RIR_LargeRoom1_far_AnglB.wav",
                                      "RIR_SmallRoom1_near_AnglA.wav"]
    audio, _ = sf.read(rirs[0])
    assert np.allclose(load_audio(rirs[0], RATE, first_channel_only=True), audio[:, 0], atol=1e-4)
    assert len(reverb_noise(tmp_path)) == 1


def test_plain_folders_respect_the_split(tmp_path):
    names = [f"cmu_arctic_us_{s}_a0001.wav" for s in ("aew", "ahw", "aup", "awb", "axb", "bdl",
                                                      "clb", "eey", "fem", "gka", "jmk", "ksp")]
    for name in names:
        _write(tmp_path / "clean" / name)
    folders = PlainFolders(tmp_path)
    train, held = folders.clean("train"), folders.clean("eval")
    assert len(train) + len(held) == len(names) and held  # the fixture has held-out speakers
    assert not any(is_eval_speaker(p) for p in train)


def test_training_never_reads_eval_speakers_pairs_or_real_noisy(tmp_path, monkeypatch):
    for i, spk in enumerate(("aew", "ahw", "aup", "awb", "axb", "bdl", "clb", "eey")):
        _write(tmp_path / "clean" / f"cmu_arctic_us_{spk}_a{i:04d}.wav", seconds=1.0, seed=i)
    _write(tmp_path / "pairs" / "x_clean.wav")
    _write(tmp_path / "real_noisy" / "y.wav")
    _write(tmp_path / "noise" / "n1.wav")
    _write(tmp_path / "rir" / "r1.wav")
    read: list[str] = []
    import services.enhancer.data.dataset as dataset

    real_load = dataset.load_audio
    monkeypatch.setattr(dataset, "load_audio",
                        lambda p, *a, **k: read.append(str(p)) or real_load(p, *a, **k))
    load_plain_folders(tmp_path, RATE, DegradeSettings(), simulated_rirs=0)
    assert read
    assert not any("/pairs/" in p or "/real_noisy/" in p for p in read)
    assert not any(is_eval_speaker(p) for p in read if "/clean/" in p)
    assert not any(is_eval_file(p) for p in read if "/noise/" in p or "/rir/" in p)


def test_rir_pre_delay_is_removed():
    """Regression: the seed convolved with the raw RIR, so the input lagged the target."""
    rir = np.zeros(2000, dtype=np.float32)
    rir[300] = 0.8  # 300 samples of pre-delay before the direct path
    rir[600:] = 0.05 * np.random.default_rng(0).standard_normal(1400) * np.exp(
        -np.arange(1400) / 200)
    aligned = degrade.align_on_direct_path(rir)
    assert aligned[0] == 1.0 and len(aligned) == 1700
    speech = np.random.default_rng(1).standard_normal(RATE).astype(np.float32)
    degrader = Degrader(DegradeSettings(reverb_probability=1.0, noise_probability=0.0,
                                        eq_probability=0.0, band_limit_probability=0.0,
                                        clip_probability=0.0, drr_db=(10.0, 10.0)),
                        RATE, [], [rir])
    noisy, clean = degrader(speech, np.random.default_rng(2))
    lags = np.arange(-400, 401)
    corr = [np.dot(noisy[400:-400], np.roll(clean, lag)[400:-400]) for lag in lags]
    assert lags[int(np.argmax(corr))] == 0


def test_speaker_gain_varies():
    """Regression: the seed drew the gain from (low, low)."""
    rng = np.random.default_rng(0)
    gains = [degrade.random_gain_db(rng, (-25.0, 0.0)) for _ in range(200)]
    assert min(gains) >= -25.0 and max(gains) <= 0.0 and np.std(gains) > 5.0
    speech = 0.1 * np.random.default_rng(1).standard_normal(RATE).astype(np.float32)
    degrader = Degrader(DegradeSettings(gain_db=(-25.0, 0.0)), RATE, [], [])
    levels = [20 * np.log10(np.std(degrader(speech, rng)[1])) for _ in range(30)]
    assert np.ptp(levels) > 10.0


def test_speech_level_is_absolute_whatever_the_file_level():
    """speech_level_dbfs sets the target's RMS itself: a file recorded 40 dB quieter lands in
    the same range (relative gains left ErbNet's inputs quieter than phone recordings)."""
    rng = np.random.default_rng(0)
    settings = DegradeSettings(speech_level_dbfs=(-40.0, -15.0), clean_probability=1.0,
                               clean_floor_snr_db=(200.0, 200.0))
    degrader = Degrader(settings, RATE, [], [])
    for file_scale in (0.3, 0.003):
        speech = file_scale * np.random.default_rng(1).standard_normal(RATE).astype(np.float32)
        levels = [20 * np.log10(np.std(degrader(speech, rng)[1])) for _ in range(40)]
        assert -40.5 < min(levels) < -36.0 and -19.0 < max(levels) < -14.5


def test_colour_in_target_leaves_the_network_only_what_gains_below_one_can_do():
    """With colour_in_target, a device's EQ and band limit reach the target too: an input only
    coloured equals its target, and the input's spectrum never lies above the target's. Without
    it, the same draws leave the target uncoloured."""
    speech = 0.05 * np.random.default_rng(1).standard_normal(2 * RATE).astype(np.float32)
    only_colour = dict(reverb_probability=0.0, noise_probability=0.0, clip_probability=0.0,
                       codec_probability=0.0, babble_probability=0.0, clean_probability=0.0,
                       eq_probability=1.0, band_limit_probability=1.0,
                       speech_level_dbfs=(-26.0, -26.0))
    coloured = Degrader(DegradeSettings(**only_colour, colour_in_target=True), RATE, [], [])
    plain = Degrader(DegradeSettings(**only_colour), RATE, [], [])
    for seed in range(5):
        x, target = coloured(speech, np.random.default_rng(seed))
        np.testing.assert_allclose(x, target, atol=1e-6)
        x_plain, target_plain = plain(speech, np.random.default_rng(seed))
        np.testing.assert_allclose(x_plain, x, atol=1e-6)  # the same degradation drawn
        # The uncoloured target keeps the band the limit (3–7 kHz) removed from the input.
        spectrum = np.abs(np.fft.rfft(target_plain)) ** 2
        lost = np.abs(np.fft.rfft(x_plain)) ** 2
        top = np.fft.rfftfreq(len(speech), 1 / RATE) > 7500
        assert 10 * np.log10(spectrum[top].sum() / lost[top].sum()) > 20.0


def test_drr_augmentation_hits_target():
    rir = np.zeros(RATE // 2, dtype=np.float32)
    rir[0] = 1.0
    rir[100:] = 0.02 * np.random.default_rng(0).standard_normal(len(rir) - 100)
    for target in (-6.0, 0.0, 18.0):
        assert abs(degrade.drr_db(degrade.set_drr(rir, target, RATE), RATE) - target) < 0.01


def test_t60_shortening_and_simulated_rooms():
    rir = degrade.align_on_direct_path(degrade.simulate_rir(np.random.default_rng(0), RATE))
    t60 = degrade.estimate_t60_s(rir, RATE)
    assert 0.05 < t60 < 2.0
    shorter = degrade.estimate_t60_s(degrade.shorten_t60(rir, 0.5, RATE, t60), RATE)
    assert shorter < 0.8 * t60


def test_noise_mixed_at_requested_snr():
    rng = np.random.default_rng(0)
    speech = rng.standard_normal(RATE).astype(np.float32)
    for noise in (degrade.coloured_noise(RATE, 1.0, rng), degrade.hum(RATE, RATE, rng)):
        mixed = degrade.mix_at_snr(speech, noise, 10.0)
        snr = 10 * np.log10(np.mean(speech**2) / np.mean((mixed - speech) ** 2))
        assert abs(snr - 10.0) < 1e-3


def _band_share(x: np.ndarray, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(spectrum[(freqs >= low_hz) & (freqs < high_hz)].sum() / spectrum.sum())


def _frame_levels_db(x: np.ndarray, frame: int = 320) -> np.ndarray:
    frames = x[: len(x) // frame * frame].reshape(-1, frame)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def test_rumble_clatter_and_reshaped_noise():
    rng = np.random.default_rng(5)
    rumble = degrade.rumble(4 * RATE, RATE, rng)
    assert len(rumble) == 4 * RATE and abs(np.std(rumble) - 1) < 1e-3
    assert _band_share(rumble, 0, 600) > 0.95  # engine and traffic energy sits low
    clatter = degrade.impacts(4 * RATE, RATE, rng)
    assert abs(np.std(clatter) - 1) < 1e-3
    levels = _frame_levels_db(clatter)
    assert np.percentile(levels, 95) - np.percentile(levels, 20) > 20  # bursts, then quiet
    white = degrade.coloured_noise(8 * RATE, 0.0, rng)
    shapes = [degrade.reshape_noise(white, RATE, np.random.default_rng(seed)) for seed in range(8)]
    for shaped in shapes:
        assert len(shaped) == len(white) and abs(np.std(shaped) - 1) < 1e-3
    # each a different spectrum: the low-band share spreads widely over seeds
    shares = [_band_share(x, 0, 1000) for x in shapes]
    assert max(shares) - min(shares) > 0.3
    # and a level that moves (white noise's own frame levels vary by ~1 dB)
    levels = [_frame_levels_db(x, 3200) for x in shapes]
    spread = [np.percentile(lv, 90) - np.percentile(lv, 10) for lv in levels]
    assert max(spread) > 6


def test_training_noise_mixes_kinds_and_stays_reproducible():
    clip = degrade.coloured_noise(3 * RATE, 1.0, np.random.default_rng(6))
    degrader = Degrader(DegradeSettings(), RATE, [clip], [])
    noises = [degrader._noise(RATE, np.random.default_rng(seed)) for seed in range(40)]
    assert all(len(x) == RATE and np.all(np.isfinite(x)) for x in noises)
    shares = [_band_share(x, 0, 600) for x in noises]
    assert min(shares) < 0.3 and max(shares) > 0.9  # broadband and rumble alike
    again = degrader._noise(RATE, np.random.default_rng(7))
    assert np.array_equal(again, noises[7])


def test_band_limit_and_clipping():
    rng = np.random.default_rng(0)
    x = degrade.coloured_noise(RATE, 0.0, rng)
    limited = degrade.band_limit(x, RATE, 4000.0)
    spectrum = np.abs(np.fft.rfft(limited)) ** 2
    freqs = np.fft.rfftfreq(RATE, 1 / RATE)
    assert spectrum[freqs > 5000].sum() < 1e-3 * spectrum[freqs < 3000].sum()
    clipped = degrade.soft_clip(x, 0.5)
    assert np.max(np.abs(clipped)) <= 0.5 * np.max(np.abs(x)) + 1e-6


def test_validation_degradation_is_deterministic():
    speech = 0.1 * np.random.default_rng(1).standard_normal(RATE).astype(np.float32)
    degrader = Degrader(DegradeSettings(), RATE, [], [])
    degrader.add_simulated_rirs(2, np.random.default_rng(0))
    a = degrader(speech, np.random.default_rng(1234))
    b = degrader(speech, np.random.default_rng(1234))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_load_plain_folders_reads_several_roots_and_fullband_ravdess(tmp_path, monkeypatch):
    """The recordings and a `make data` corpus side by side; RAVDESS beside clean/ is speech."""
    recordings, built = tmp_path / "shared_data", tmp_path / "corpus"
    for i, spk in enumerate(("aew", "ahw", "aup", "awb")):
        _write(recordings / "clean" / f"cmu_arctic_us_{spk}_a{i:04d}.wav", seconds=1.0, seed=i)
    for actor in (1, 2, 4, 19):  # 04 (f) and 19 (m) are held-out actors
        name = f"ravdess__Actor_{actor:02d}__03-01-01-01-01-01-{actor:02d}.flac"
        _write(recordings / "fullband_ravdess" / name, seconds=1.0, rate=48_000, seed=actor)
    _write(recordings / "noise" / "n1.wav")
    for i, line in enumerate(("ahoj", "ne", "proc")):
        _write(built / "clean" / "fillets-cs" / f"fillets-cs__small__city__vit-m-{line}.flac",
               seconds=1.0, rate=22_050, seed=10 + i)
    for name in ("opensfx__06-Ship-horn", "lincity__TraficLow1", "lincity__Water1"):
        _write(built / "noise" / "opensfx" / f"{name}.flac", rate=44_100)
    read: list[Path] = []
    import services.enhancer.data.dataset as dataset

    real_load = dataset.load_audio
    monkeypatch.setattr(dataset, "load_audio",
                        lambda p, *a, **k: read.append(Path(p)) or real_load(p, *a, **k))
    batches, validation = load_plain_folders([recordings, str(built)], RATE, DegradeSettings(),
                                             simulated_rirs=0)
    speech = {p.name for p in read if "noise" not in p.parts}
    assert {n for n in speech if n.startswith("fillets-cs")} == {
        f"fillets-cs__small__city__vit-m-{line}.flac" for line in ("ahoj", "ne", "proc")}
    assert {n[:17] for n in speech if n.startswith("ravdess")} == {"ravdess__Actor_01",
                                                                   "ravdess__Actor_02"}
    assert not any(is_eval_speaker(n) for n in speech)
    all_noise = [*recordings.glob("noise/*"), *built.glob("noise/*/*")]
    assert {p for p in read if "noise" in p.parts} == {p for p in all_noise if not is_eval_file(p)}
    assert len(batches.clips) + len(validation) == len(speech)
    noisy, clean = batches.batch(2, 4000, np.random.default_rng(0))
    assert noisy.shape == clean.shape == (2, 1, 4000)


def test_plain_folders_read_clean_before_fullband_ravdess(tmp_path):
    """Files of clean/ come first, so the validation list of one root keeps its old items."""
    _write(tmp_path / "fullband_ravdess" / "ravdess__Actor_01__03-01-01-01-01-01-01.flac")
    _write(tmp_path / "clean" / "sub" / "cmu_arctic_us_aew_a0001.wav")
    assert [p.parent.name for p in PlainFolders(tmp_path).clean("train")] == ["sub",
                                                                              "fullband_ravdess"]


def _voice(seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.1 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
            + 0.05 * np.sin(2 * np.pi * 1100 * t)).astype(np.float32)


def test_every_codec_round_trip_comes_back_aligned_and_degraded():
    """The decoded signal must sit on the input sample for sample (the encoder's priming and
    the decoder's delay removed), or training targets would be misaligned."""
    x = _voice(2.0)
    for index, (codec, *_rest) in enumerate(degrade.CODECS):
        y = degrade.codec_round_trip(x, RATE, np.random.default_rng(index), codec_index=index)
        assert y.shape == x.shape
        error_db = 10 * np.log10(np.sum((y - x) ** 2) / np.sum(x**2))
        shifted_db = 10 * np.log10(np.sum((np.roll(y, 8) - x) ** 2) / np.sum(x**2))
        assert -40 < error_db < -3, (codec, error_db)  # changed, but the same signal in time
        assert error_db < shifted_db - 3, codec  # 8 samples off would match worse


def test_babble_is_unit_rms_speech_from_the_given_clips():
    clips = [_voice(1.0), 0.3 * _voice(0.5)]
    talkers = degrade.babble(clips, 24_000, np.random.default_rng(0), talkers=3)
    assert talkers.shape == (24_000,) and abs(float(np.std(talkers)) - 1.0) < 1e-3


def test_babble_folder_talks_behind_the_speaker_but_is_never_a_target(tmp_path, monkeypatch):
    for i, spk in enumerate(("aew", "ahw", "aup", "awb")):
        _write(tmp_path / "clean" / f"cmu_arctic_us_{spk}_a{i:04d}.wav", seconds=1.0, seed=i)
    for i in range(4):
        _write(tmp_path / "babble" / "game" / f"line{i}.wav", seconds=1.0, seed=9 + i)
    babble_files = PlainFolders(tmp_path).babble("train")
    assert babble_files  # the fixture has training-side talkers
    batches, _ = load_plain_folders(tmp_path, RATE, DegradeSettings(babble_probability=1.0,
                                                                    noise_probability=0.0),
                                    simulated_rirs=0)
    assert len(batches.clips) < 5  # babble/ is not read as clean speech
    assert len(batches.degrader.babble) == len(batches.clips) + len(babble_files)
    clean = batches.clips[0][:8000]
    noisy, target = batches.degrader(clean, np.random.default_rng(0))
    assert not np.allclose(noisy, target)  # the talkers were mixed in


def test_some_examples_stay_as_recorded():
    """A share of examples is the clean speech itself (or under a faint floor ≥ 35 dB down), so
    the network learns to leave a clean recording alone."""
    speech = 0.1 * np.random.default_rng(2).standard_normal(RATE).astype(np.float32)
    degrader = Degrader(DegradeSettings(clean_probability=0.5), RATE,
                        [degrade.coloured_noise(RATE, 1.0, np.random.default_rng(3))], [])
    snrs = []
    for seed in range(60):
        x, target = degrader(speech, np.random.default_rng(seed))
        snrs.append(10 * np.log10(np.sum(target**2) / (np.sum((x - target) ** 2) + 1e-20)))
    untouched = [snr for snr in snrs if snr > 34]
    assert 15 <= len(untouched) <= 45  # about half
    assert any(snr > 100 for snr in untouched)  # some exactly as recorded
    assert min(snrs) < 30  # the rest degraded as before
