"""The U-Net and its sub-pixel layer: shapes, a hand-computed shuffle, save→load, costs."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
tf.config.threading.set_intra_op_parallelism_threads(1)

from services.upsampler.model import CONFIGS, SubPixel1D, build_unet, cost_per_audio_second  # noqa: E402
from services.upsampler.model.config import UNetConfig  # noqa: E402
from services.upsampler.unet_engine import load_model  # noqa: E402


def randomise_output(model, seed: int = 0):
    """The output conv starts at zero (model == resample); tests need a non-trivial residual."""
    layer = model.get_layer("output_conv")
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32) for w in layer.get_weights()])
    return model


def test_subpixel_matches_hand_computed_example():
    # [1, T=2, C·r=4] with r=2 → [1, 4, 2]: out[t·r + i, c] = in[t, i·C + c]
    x = np.array([[[1, 2, 3, 4], [5, 6, 7, 8]]], dtype=np.float32)
    expected = np.array([[[1, 2], [3, 4], [5, 6], [7, 8]]], dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(SubPixel1D(2)(x)), expected)
    y = np.arange(6, dtype=np.float32).reshape(1, 1, 6)  # r=3, C=2
    np.testing.assert_array_equal(np.asarray(SubPixel1D(3)(y))[0], [[0, 1], [2, 3], [4, 5]])


def test_tiny_unet_runs_and_starts_as_the_interpolated_input():
    config = CONFIGS["tiny"]
    model = build_unet(config)
    x = np.random.default_rng(1).normal(0, 0.1, (2, 4 * config.length_multiple, 1))
    y = np.asarray(model(x.astype(np.float32), training=False))
    assert y.shape == x.shape
    # zero-initialised output conv: an untrained model reproduces the `resample` baseline
    np.testing.assert_allclose(y, x, atol=1e-7)
    randomise_output(model)
    assert np.abs(np.asarray(model(x.astype(np.float32))) - x).max() > 1e-3


def test_save_load_round_trip_gives_identical_output(tmp_path):
    model = randomise_output(build_unet(CONFIGS["tiny"]))
    path = tmp_path / "unet.keras"
    model.save(path)
    loaded = load_model(path)
    x = np.random.default_rng(2).normal(0, 0.1, (1, 256, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-7)


def test_cost_counts_match_keras_parameter_count():
    for name in ("tiny", "small"):
        config = CONFIGS[name]
        assert cost_per_audio_second(config)["params"] == build_unet(config).count_params()
    # the serving config stays inside the CPU budget of shared/notes/anchors.md
    assert cost_per_audio_second(CONFIGS["small"])["gflop_per_audio_s"] < 5


def test_config_round_trips_through_dict():
    config = CONFIGS["small"]
    assert UNetConfig.from_dict(config.to_dict()) == config
    assert config.length_multiple == 2 ** (len(config.filters) + 1)
