"""Chunked U-Net inference and the engines: exact lengths, chunked == whole, band limits, the
cutoff reaching a conditioned network, and the shipped unconditioned checkpoint still serving."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
tf.config.threading.set_intra_op_parallelism_threads(1)

from services.upsampler import engines, unet_engine  # noqa: E402
from services.upsampler.inference import upsample, upsample_48k  # noqa: E402
from services.upsampler.model import CONFIGS, build_unet  # noqa: E402

SHIPPED = unet_engine.DEFAULT_CHECKPOINT


@pytest.fixture(scope="module")
def model():
    """Tiny, cutoff-conditioned, with a random output layer and FiLM layers."""
    tf.keras.utils.set_random_seed(0)  # the same network every run
    net = build_unet(CONFIGS["tiny"])
    rng = np.random.default_rng(0)
    for layer in net.layers:
        if layer.name == "output_conv" or layer.name.endswith("_film"):
            scale = 0.1 if layer.name == "output_conv" else 0.3
            layer.set_weights([rng.normal(0, scale, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    return net


def band_energy_db(audio: np.ndarray, rate_hz: int, low_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / rate_hz)
    return float(10 * np.log10(spectrum[freqs > low_hz].sum() / spectrum.sum() + 1e-30))


@pytest.mark.parametrize("n", [1, 7, 1001, 16001, 33333])
def test_exact_output_length_for_odd_lengths(model, n):
    audio = np.random.default_rng(n).normal(0, 0.1, n).astype(np.float32)
    out = upsample(model, audio, 48000, chunk_s=0.5, overlap_s=0.1)
    assert out.shape == (3 * n,) and out.dtype == np.float32
    assert upsample(model, audio, 44100, chunk_s=0.5, overlap_s=0.1).shape == (
        round(n * 44100 / 16000),
    )


def test_chunked_equals_whole_signal(model):
    rng = np.random.default_rng(3)
    interpolated = rng.normal(0, 0.1, 3 * 52_001).astype(np.float32)  # ≈ 3.25 s at 48 kHz
    whole = upsample_48k(model, interpolated, chunk_s=100.0)
    # the serving overlap (0.25 s): it hides the edges of the model's context and of the
    # grid-tone estimate (±2048 samples) alike
    chunked = upsample_48k(model, interpolated, chunk_s=0.8, overlap_s=0.25)
    assert np.abs(whole - interpolated).max() > 1e-3  # the model does change the signal
    np.testing.assert_allclose(chunked, whole, atol=1e-4)


def test_resample_engine_length_and_band_limit():
    audio = np.random.default_rng(4).normal(0, 0.1, 16_001).astype(np.float32)
    out = engines.get("resample").upsample(audio, 16000, 48000)
    assert len(out) == 48_003
    assert band_energy_db(out, 48000, 8500) < -60  # adds nothing above the input's Nyquist


def test_unet_engine_from_env_checkpoint(model, tmp_path, monkeypatch):
    path = tmp_path / "unet.keras"
    model.save(path)
    monkeypatch.setenv("SPEAKUP_UNET_CHECKPOINT", str(path))
    assert unet_engine.is_available()
    engine = unet_engine.UNetEngine()
    audio = np.random.default_rng(5).normal(0, 0.1, 8001).astype(np.float32)
    assert engine.upsample(audio, 16000, 48000).shape == (24003,)
    assert engine.upsample(audio, 16000, 44100).shape == (round(8001 * 44100 / 16000),)
    assert engine.upsample(audio, 8000, 48000).shape == (48006,)
    # the model adds high-band content that plain resampling cannot
    assert band_energy_db(engine.upsample(audio, 16000, 48000), 48000, 9000) > -40
    monkeypatch.setenv("SPEAKUP_UNET_CHECKPOINT", str(tmp_path / "missing.keras"))
    assert not unet_engine.is_available()


def test_the_cutoff_reaches_a_conditioned_network(model, tmp_path, monkeypatch):
    path = tmp_path / "unet.keras"
    model.save(path)
    engine = unet_engine.UNetEngine(path)
    audio = np.random.default_rng(8).normal(0, 0.1, 8000).astype(np.float32)
    default = engine.upsample(audio, 16000, 48000)
    np.testing.assert_allclose(engine.upsample(audio, 16000, 48000, cutoff_hz=8000), default)
    assert np.abs(engine.upsample(audio, 16000, 48000, cutoff_hz=4000) - default).max() > 1e-4
    # never beyond the input's Nyquist
    np.testing.assert_allclose(engine.upsample(audio, 16000, 48000, cutoff_hz=11000), default)
    # told nothing, it measures the cutoff as the chain does (shared.audio.bandwidth)
    import soxr

    from shared.audio.bandwidth import bandwidth_hz

    phone = soxr.resample(soxr.resample(audio, 16000, 8000), 8000, 16000).astype(np.float32)
    measured = bandwidth_hz([phone], 16000)
    assert 3800 < measured < 4400
    np.testing.assert_allclose(engine.upsample(phone, 16000, 48000),
                               engine.upsample(phone, 16000, 48000, cutoff_hz=measured))
    # a conditioned network takes wider inputs too (24 kHz, 11 kHz band), not just resampling
    wide = engine.upsample(audio, 24000, 48000, cutoff_hz=11000)
    plain = engines.get("resample").upsample(audio, 24000, 48000)
    assert wide.shape == plain.shape == (16000,)
    assert np.abs(wide - plain).max() > 1e-4
    assert np.array_equal(engine.upsample(audio, 48000, 48000), audio)


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped models/unet/unet.keras")
def test_the_shipped_checkpoint_serves_and_is_told_the_cutoff():
    import json

    from services.upsampler.inference import is_conditioned

    engine = unet_engine.UNetEngine(SHIPPED)
    assert is_conditioned(engine.model)
    card = json.loads(SHIPPED.with_name("card.json").read_text())
    assert engine.band_gains == tuple(card["band_gains"])  # its card's calibrated gains
    rng = np.random.default_rng(9)
    spectrum = np.fft.rfft(rng.normal(0, 0.05, 16000))
    spectrum[np.fft.rfftfreq(16000, 1 / 16000) > 4000] = 0  # a 4 kHz phone band
    audio = np.fft.irfft(spectrum, n=16000).astype(np.float32)
    told = engine.upsample(audio, 16000, 48000, cutoff_hz=4000)
    untold = engine.upsample(audio, 16000, 48000, cutoff_hz=8000)  # as if it reached 8 kHz
    assert told.shape == untold.shape == (48000,)
    assert band_energy_db(untold, 48000, 9000) > -60  # an invented band above 8 kHz
    # the cutoff reaches the network (how well it fills a 4 kHz band: the model card)
    assert np.abs(told - untold).max() > 1e-4
    # without a cutoff it measures the input's own (4 kHz here)
    from shared.audio.bandwidth import RESOLUTION_HZ, bandwidth_hz

    measured = bandwidth_hz([audio], 16000)
    assert measured is not None and abs(measured - 4000) < RESOLUTION_HZ
    np.testing.assert_allclose(engine.upsample(audio, 16000, 48000),
                               engine.upsample(audio, 16000, 48000, cutoff_hz=measured), atol=1e-6)
    # any rate under 48 kHz is filled from its own band; 48 kHz is only resampled
    assert engine.upsample(audio, 24000, 48000).shape == (32000,)
    assert engine.upsample(audio[:8000], 8000, 48000).shape == (48000,)
    np.testing.assert_array_equal(engine.upsample(audio, 48000, 44100),
                                  engines.get("resample").upsample(audio, 48000, 44100))


def test_high_band_gain_scales_only_the_band_above_8khz(model):
    audio = np.random.default_rng(6).normal(0, 0.1, 16000).astype(np.float32)
    raw = upsample(model, audio, 48000)
    assert np.allclose(upsample(model, audio, 48000, band_gains=(1.0, 1.0, 1.0, 1.0)), raw)
    muted = upsample(model, audio, 48000, band_gains=(1.0, 1.0, 1.0, 0.0))
    plain = engines.get("resample").upsample(audio, 16000, 48000)
    assert band_energy_db(raw, 48000, 9000) > -40
    assert band_energy_db(muted, 48000, 9000) < -50  # nothing invented above 8 kHz
    # below 7 kHz the residual is kept whatever the gain
    low = np.fft.rfftfreq(len(raw), 1 / 48000) < 7000
    raw_low, muted_low = np.fft.rfft(raw)[low], np.fft.rfft(muted)[low]
    residual_low = raw_low - np.fft.rfft(plain)[low]
    assert np.linalg.norm(muted_low - raw_low) < 0.05 * np.linalg.norm(residual_low)


def test_residual_bands_sum_to_the_residual_and_sit_in_their_bands():
    from services.upsampler.inference import BAND_NAMES, apply_band_gains, split_residual

    rng = np.random.default_rng(7)
    interpolated = rng.normal(0, 0.1, 48_000).astype(np.float32)
    output = interpolated + rng.normal(0, 0.1, 48_000).astype(np.float32)  # white residual
    bands = split_residual(interpolated, output)
    assert len(bands) == len(BAND_NAMES) == 4
    np.testing.assert_allclose(sum(bands), output - interpolated, atol=1e-5)
    freqs = np.fft.rfftfreq(48_000, 1 / 48000)
    edges = [(0, 5900), (6100, 7300), (7500, 7900), (8100, 24000)]  # each band's interior
    for i, band in enumerate(bands):
        power = np.abs(np.fft.rfft(band)) ** 2
        inside = power[(freqs >= edges[i][0]) & (freqs < edges[i][1])].sum()
        outside = sum(
            power[(freqs >= lo) & (freqs < hi)].sum() for j, (lo, hi) in enumerate(edges) if j != i
        )
        assert outside < 1e-6 * inside, (BAND_NAMES[i], outside / inside)
    # gains scale the bands independently: keep only 7.4–8 kHz, doubled
    kept = apply_band_gains(interpolated, output, (0.0, 0.0, 2.0, 0.0))
    np.testing.assert_allclose(kept - interpolated, 2 * bands[2], atol=1e-6)
    # every band at once, on an odd length and another cutoff: the same as summing the bands
    gains = (0.3, 1.2, 0.8, 0.6)
    odd_in, odd_out = interpolated[:47_999], output[:47_999]
    summed = odd_in + sum(g * b for g, b in zip(gains, split_residual(odd_in, odd_out, 7000.0),
                                                strict=True))
    np.testing.assert_allclose(apply_band_gains(odd_in, odd_out, gains, 7000.0), summed,
                               atol=1e-6)
    with pytest.raises(ValueError, match="4 band gains"):
        apply_band_gains(interpolated, output, (1.0, 1.0))
    # the bands follow the cutoff: at 4 kHz they end at 3, 3.7 and 4 kHz
    above = split_residual(interpolated, output, cutoff_hz=4000)[3]
    power = np.abs(np.fft.rfft(above)) ** 2
    assert power[freqs < 3950].sum() < 1e-6 * power[freqs > 4050].sum()


def test_band_gains_from_cards_old_and_new():
    card = {"band_gains": [0, 1.5, 1, 0.2]}
    assert unet_engine.band_gains_from_card(card) == (0.0, 1.5, 1.0, 0.2)
    # the two-band era: one low gain below 8 kHz
    old = {"low_band_gain": 0.0, "high_band_gain": 1.0}
    assert unet_engine.band_gains_from_card(old) == (0.0, 0.0, 0.0, 1.0)
    assert unet_engine.band_gains_from_card({}) == (1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        unet_engine.band_gains_from_card({"band_gains": [1, 1]})


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped models/unet/unet.keras")
def test_litert_serves_the_shipped_model_as_keras_does(monkeypatch):
    pytest.importorskip("ai_edge_litert")
    audio = np.random.default_rng(10).normal(0, 0.05, 3 * 16000).astype(np.float32)
    lite_engine = unet_engine.UNetEngine(SHIPPED)
    assert lite_engine.runtime == "litert"
    monkeypatch.setenv("SPEAKUP_UNET_RUNTIME", "tensorflow")
    keras_engine = unet_engine.UNetEngine(SHIPPED)
    assert keras_engine.runtime == "tensorflow"
    assert lite_engine.version == keras_engine.version
    for cutoff in (7000.0, 4000.0):
        np.testing.assert_allclose(lite_engine.upsample(audio, 16000, 48000, cutoff_hz=cutoff),
                                   keras_engine.upsample(audio, 16000, 48000, cutoff_hz=cutoff),
                                   atol=1e-5)


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped models/unet/unet.keras")
def test_a_tflite_not_made_from_this_checkpoint_is_not_used(tmp_path):
    import json
    import shutil

    pytest.importorskip("ai_edge_litert")
    for name in ("unet.keras", "unet.tflite", "card.json"):
        shutil.copy(SHIPPED.with_name(name), tmp_path / name)
    card = json.loads((tmp_path / "card.json").read_text())
    assert unet_engine.UNetEngine(tmp_path / "unet.keras").runtime == "litert"
    (tmp_path / "card.json").write_text(json.dumps(
        {**card, "lite": {**card["lite"], "source_sha256": "0" * 64}}))  # another .keras's
    assert unet_engine.UNetEngine(tmp_path / "unet.keras").runtime == "tensorflow"
    (tmp_path / "card.json").write_text(json.dumps(card))
    (tmp_path / "unet.tflite").write_bytes(b"not a model")  # a damaged file
    assert unet_engine.UNetEngine(tmp_path / "unet.keras").runtime == "tensorflow"


def test_export_to_litert_computes_what_keras_does(model, tmp_path):
    pytest.importorskip("ai_edge_litert")
    from services.upsampler.inference import _length_multiple
    from services.upsampler.lite import LiteUNet, export_lite

    entry = export_lite(model, tmp_path / "tiny.tflite")
    assert entry["size_bytes"] == (tmp_path / "tiny.tflite").stat().st_size
    lite = LiteUNet(tmp_path / "tiny.tflite", _length_multiple(model), threads=1)
    assert lite.conditioned and lite.length_multiple == _length_multiple(model)
    interpolated = np.random.default_rng(11).normal(0, 0.1, 48_000).astype(np.float32)
    np.testing.assert_allclose(upsample_48k(lite, interpolated, cutoff_hz=5000.0),
                               upsample_48k(model, interpolated, cutoff_hz=5000.0), atol=1e-5)
