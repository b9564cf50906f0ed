"""The U-Net trainer end to end on synthetic full-band files (checkpoints, resumes, starts from
an unconditioned checkpoint), its loss, and the band-gain calibration for LSD."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

tf = pytest.importorskip("tensorflow")

from services.upsampler import calibrate, train  # noqa: E402
from services.upsampler.unet_engine import load_model  # noqa: E402


def synthetic_speechlike(seed: int, duration_s: float = 1.5, rate_hz: int = 48000) -> np.ndarray:
    """Harmonics under a syllable envelope plus full-band noise bursts (fricatives)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    voiced = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 40))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    fricative = rng.normal(0, 0.3, len(t)) * (np.sin(2 * np.pi * 1.5 * t) > 0.6)
    return (0.1 * (voiced * envelope + fricative)).astype(np.float32)


def fabricate_data(root) -> None:
    """p225/p226 and RAVDESS actor 01 train; p227 and actor 04 are held out; one file is
    narrow-band (16 kHz) and never a target."""
    (root / "clean").mkdir(parents=True)
    (root / "fullband_ravdess").mkdir()
    for i, name in enumerate(["p225_001.wav", "p226_001.wav", "p227_001.wav"]):
        sf.write(root / "clean" / name, synthetic_speechlike(i), 48000)
    sf.write(root / "clean" / "p225_002.wav", synthetic_speechlike(9, rate_hz=16000), 16000)
    for i, actor in enumerate(["01", "04"]):
        sf.write(root / "fullband_ravdess" / f"ravdess__Actor_{actor}__03-01-01-01.flac",
                 synthetic_speechlike(20 + i), 48000)


def common_args(tmp_path) -> list[str]:
    return ["--config", "tiny", "--data-dir", str(tmp_path / "data"), "--batch-size", "2",
            "--crop-length", "4800", "--log-every", "1", "--threads", "1", "--val-examples", "4",
            "--data-workers", "1"]


@pytest.mark.slow
def test_train_checkpoints_and_resumes(tmp_path):
    fabricate_data(tmp_path / "data")
    run_dir = tmp_path / "run"
    args = [*common_args(tmp_path), "--run-dir", str(run_dir)]
    train.main([*args, "--steps", "3"])
    state = json.loads((run_dir / "state.json").read_text())
    assert state["step"] == 3
    assert sorted(state["train_files"] + state["val_files"]) == [
        "clean/p225_001.wav", "clean/p226_001.wav",
        "fullband_ravdess/ravdess__Actor_01__03-01-01-01.flac"]
    assert state["unet_config"]["cutoff_conditioning"] is True
    assert {"lsd/model", "lsd/resample", "snr_db/model"} <= set(state["last_val"])
    assert (run_dir / "latest.keras").is_file() and (run_dir / "tb").is_dir()
    train.main([*args, "--steps", "5"])
    model = load_model(run_dir / "latest.keras")
    assert json.loads((run_dir / "state.json").read_text())["step"] == 5
    assert model.output_shape == (None, None, 1) and len(model.inputs) == 2


@pytest.mark.slow
def test_train_starts_from_an_unconditioned_checkpoint(tmp_path):
    """--init-from an unconditioned (pre-issue-15) checkpoint: every shared layer takes its
    weights, the FiLM layers start as the identity — the new network computes exactly what the
    old one did — and training moves on from there; the card's step count carries over."""
    import dataclasses

    from services.upsampler.model import CONFIGS, build_unet

    fabricate_data(tmp_path / "data")
    old = build_unet(dataclasses.replace(CONFIGS["tiny"], cutoff_conditioning=False))
    rng = np.random.default_rng(0)
    for layer in old.layers:
        if layer.get_weights():
            layer.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    old.save(shipped / "unet.keras")
    (shipped / "card.json").write_text(json.dumps({"steps_trained": 2}))
    run_dir = tmp_path / "run"
    args = [*common_args(tmp_path), "--run-dir", str(run_dir),
            "--init-from", str(shipped / "unet.keras")]
    train.main([*args, "--steps", "2"])  # no step: the start itself
    x = rng.normal(0, 0.1, (2, 256, 1)).astype(np.float32)
    cutoff = np.array([[4000.0], [8000.0]], np.float32)
    started = load_model(run_dir / "latest.keras")
    np.testing.assert_allclose(np.asarray(started([x, cutoff])), np.asarray(old(x)), atol=1e-6)
    train.main([*args, "--steps", "3"])
    assert json.loads((run_dir / "state.json").read_text())["step"] == 3
    after = load_model(run_dir / "latest.keras")
    assert np.abs(np.asarray(after([x, cutoff])) - np.asarray(old(x))).max() > 0


def test_waveform_term_counts_error_below_each_examples_cutoff_only():
    rng = np.random.default_rng(1)
    target = rng.normal(0, 0.3, (2, 12288, 1)).astype(np.float32)
    t = np.arange(12288) / 48000
    cutoffs = np.array([4000.0, 12000.0], np.float32)
    for freq_hz, counted in ((1000.0, (True, True)), (7000.0, (False, True)),
                             (16000.0, (False, False))):
        error = (0.1 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)[None, :, None]
        loss = train.per_example_loss(target, target + error, cutoffs, 0.0, tf).numpy()
        everywhere = train.per_example_loss(target, target + error, [24001.0, 24001.0], 0.0,
                                            tf).numpy()
        nmse = np.sum(error[0, :, 0] ** 2) / np.sum(target[..., 0] ** 2, axis=1)
        np.testing.assert_allclose(everywhere, nmse, rtol=2e-3)
        for i in range(2):
            if counted[i]:
                np.testing.assert_allclose(loss[i], nmse[i], rtol=2e-3)
            else:
                assert loss[i] < 1e-6 * nmse[i]
    # the transition weight scales the top quarter of the band only (7 kHz of a 8 kHz cutoff)
    error = (0.1 * np.sin(2 * np.pi * 7000 * t)).astype(np.float32)[None, :, None]
    plain = train.per_example_loss(target, target + error, [8000.0] * 2, 0.0, tf).numpy()
    heavy = train.per_example_loss(target, target + error, [8000.0] * 2, 0.0, tf, 8.0).numpy()
    np.testing.assert_allclose(heavy, 8 * plain, rtol=1e-4)


def test_stft_term_is_the_log_spectral_gap_and_gain_invariant():
    rng = np.random.default_rng(2)
    target = rng.normal(0, 0.3, (1, 12288, 1)).astype(np.float32)
    cutoff = [8000.0]
    assert train.per_example_loss(target, target, cutoff, 1.0, tf).numpy()[0] < 1e-6
    # 6 dB louder everywhere: log10 power off by log10(4) = 0.602 in every bin; the waveform
    # term below 8 kHz adds its nmse (1/3 of the energy of an error equal to the target)
    loss = train.per_example_loss(target, 2 * target, cutoff, 1.0, tf).numpy()[0]
    waveform = train.per_example_loss(target, 2 * target, cutoff, 0.0, tf).numpy()[0]
    assert loss - waveform == pytest.approx(np.log10(4), abs=0.01)
    quiet = train.per_example_loss(0.01 * target, 0.02 * target, cutoff, 1.0, tf).numpy()[0]
    assert quiet == pytest.approx(loss, rel=1e-3)


def test_coordinate_descent_finds_the_grid_minimum():
    best = (0.0, 1.25, 2.0, 0.5)

    def cost(gains):
        return sum((g - b) ** 2 for g, b in zip(gains, best, strict=True))

    assert calibrate.choose_band_gains(cost) == best


def test_calibration_lowers_lsd_and_reports_snr(tmp_path):
    """A tiny network with a random last layer invents loud noise: the chosen gains score no
    worse than its raw output, and the table holds LSD, LSD 8–24 kHz and SNR for resample, the
    raw network and the chosen gains, per evaluation filter."""
    from services.upsampler.model import CONFIGS, build_unet

    net = build_unet(CONFIGS["tiny"])
    layer = net.get_layer("output_conv")
    rng = np.random.default_rng(0)
    layer.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in layer.weights])
    path = tmp_path / "p225_009.wav"
    sf.write(path, synthetic_speechlike(3, duration_s=1.0), 48000)
    chosen, table = calibrate.calibrate_band_gains(net, [path])
    assert len(chosen) == 4 and all(g in calibrate.GAIN_GRID for g in chosen)
    assert set(table) == {"resample", "raw", "chosen"}
    assert set(table["chosen"]) == {"soxr", "butterworth", "chebyshev", "mp3"}
    assert all(len(row) == 3 for row in table["chosen"].values())
    assert calibrate.objective(table["chosen"]) <= calibrate.objective(table["raw"])
