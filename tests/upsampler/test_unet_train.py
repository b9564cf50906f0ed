"""The U-Net trainer end to end on synthetic full-band files: checkpoints, then resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("tensorflow")

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


@pytest.mark.slow
def test_train_checkpoints_and_resumes(tmp_path):
    clean = tmp_path / "data" / "clean"
    clean.mkdir(parents=True)
    # p225 / p226 are training speakers in shared.datasplit; p227 is held out and must be skipped
    for i, name in enumerate(["p225_001.wav", "p226_001.wav", "p227_001.wav"]):
        sf.write(clean / name, synthetic_speechlike(i), 48000)
    sf.write(clean / "p225_002.wav", synthetic_speechlike(9, rate_hz=16000), 16000)  # narrow
    run_dir = tmp_path / "run"
    common = [
        "--config",
        "tiny",
        "--data-dir",
        str(tmp_path / "data"),
        "--run-dir",
        str(run_dir),
        "--batch-size",
        "2",
        "--crop-length",
        "4800",
        "--variants-per-type",
        "1",
        "--log-every",
        "1",
        "--threads",
        "1",
    ]
    train.main([*common, "--steps", "3"])
    state = json.loads((run_dir / "state.json").read_text())
    assert state["step"] == 3
    assert sorted(state["train_files"] + state["val_files"]) == ["p225_001.wav", "p226_001.wav"]
    assert (run_dir / "latest.keras").is_file() and (run_dir / "tb").is_dir()
    train.main([*common, "--steps", "5"])
    model = load_model(run_dir / "latest.keras")
    assert json.loads((run_dir / "state.json").read_text())["step"] == 5
    assert model.output_shape == (None, None, 1)


@pytest.mark.slow
def test_train_starts_from_a_shipped_checkpoint(tmp_path):
    """--init-from: the shipped model's weights and, from its card, its step count."""
    clean = tmp_path / "data" / "clean"
    clean.mkdir(parents=True)
    for i, name in enumerate(["p225_001.wav", "p226_001.wav"]):
        sf.write(clean / name, synthetic_speechlike(i), 48000)
    common = ["--config", "tiny", "--data-dir", str(tmp_path / "data"), "--batch-size", "2",
              "--crop-length", "4800", "--variants-per-type", "1", "--threads", "1"]
    train.main([*common, "--run-dir", str(tmp_path / "first"), "--steps", "2"])
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (tmp_path / "first" / "latest.keras").rename(shipped / "unet.keras")
    (shipped / "card.json").write_text(json.dumps({"steps_trained": 2}))
    run_dir = tmp_path / "run"
    train.main([*common, "--run-dir", str(run_dir), "--steps", "3",
                "--init-from", str(shipped / "unet.keras")])
    assert json.loads((run_dir / "state.json").read_text())["step"] == 3  # one step on
    before = load_model(shipped / "unet.keras").get_weights()
    after = load_model(run_dir / "latest.keras").get_weights()
    fresh = _fresh_tiny_weights()
    moved = sum(float(np.abs(a - b).sum()) for a, b in zip(after, before, strict=True))
    apart = sum(float(np.abs(f - b).sum()) for f, b in zip(fresh, before, strict=True))
    assert 0 < moved < 0.1 * apart  # trained on from the shipped weights, not from scratch


def _fresh_tiny_weights() -> list[np.ndarray]:
    from services.upsampler.model import CONFIGS, build_unet

    return build_unet(CONFIGS["tiny"]).get_weights()


def test_low_band_loss_ignores_error_above_8khz_and_counts_it_below():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(1)
    target = rng.normal(0, 0.3, (2, 12288, 1)).astype(np.float32)
    t = np.arange(12288) / 48000
    for freq_hz, counted in ((1000.0, True), (7000.0, True), (12000.0, False), (20000.0, False)):
        error = (0.1 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)[None, :, None]
        full = train.per_example_loss(target, target + error, 0.0, tf, "full").numpy()
        low = train.per_example_loss(target, target + error, 0.0, tf, "low").numpy()
        assert full.min() > 1e-3
        if counted:
            np.testing.assert_allclose(low, full, rtol=1e-3)
        else:
            assert low.max() < 1e-6 * full.min()
    with pytest.raises(ValueError):
        train.per_example_loss(target, target, 0.0, tf, "mid")


def test_band_gains_chosen_for_lsd_within_the_snr_rules():
    def row(lsd: float, snr: float) -> np.ndarray:
        return np.array([lsd, snr])

    zero, mild, loud = (0.0, 0.0, 0.0), (0.0, 1.0, 0.2), (0.0, 1.0, 1.0)
    means = {
        "soxr": {"resample": row(8.0, 20.0), zero: row(8.0, 20.0), mild: row(7.0, 20.02),
                 loud: row(6.0, 19.5)},
        "mp3": {"resample": row(8.0, 22.0), zero: row(8.0, 22.0), mild: row(7.2, 21.99),
                loud: row(6.2, 21.5)},
    }
    # loud has the lowest LSD but lowers mean SNR; mild keeps the mean (+0.005 dB) but costs
    # mp3 0.01 dB: allowed only when one filter type may lose that much
    assert calibrate.choose_band_gains(means, max_filter_loss_db=0.0) == zero
    assert calibrate.choose_band_gains(means, max_filter_loss_db=0.02) == mild
    # a required mean gain of 0.01 dB rules mild out (its mean gain is 0.005 dB)
    assert calibrate.choose_band_gains(means, 0.02, min_mean_gain_db=0.01) == zero
    means["soxr"][mild] = row(7.0, 19.99)  # now the mean falls too
    assert calibrate.choose_band_gains(means, max_filter_loss_db=1.0) == zero


def test_calibration_keeps_mean_snr_and_records_every_gain(tmp_path, monkeypatch):
    """A tiny network with a random last layer invents noise: the chosen gains must not lower
    the validation SNR averaged over filter types, and all-zero gains always qualify."""
    from services.upsampler.model import CONFIGS, build_unet

    net = build_unet(CONFIGS["tiny"])
    layer = net.get_layer("output_conv")
    rng = np.random.default_rng(0)
    layer.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in layer.weights])
    path = tmp_path / "p225_009.wav"
    sf.write(path, synthetic_speechlike(3, duration_s=1.0), 48000)
    gains_tried = ((0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.1), (1.0, 1.0, 1.0, 1.0))
    monkeypatch.setattr(calibrate, "GAINS", gains_tried)
    chosen, table = calibrate.calibrate_band_gains(net, [path])
    assert chosen in gains_tried
    key = ",".join(f"{g:g}" for g in chosen)
    margins = [table[f][key][1] - table[f]["resample"][1] for f in table]
    assert np.mean(margins) >= 0
    assert set(table) == {"soxr", "butterworth", "chebyshev", "mp3"}
    assert table["soxr"]["1,1,1,1"][1] < table["soxr"]["resample"][1]  # raw noise costs SNR
