"""The U-Net, its sub-pixel and FiLM layers: shapes, a hand-computed shuffle, the cutoff
conditioning, save→load, costs, configs old and new."""

from __future__ import annotations

import dataclasses

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


UNCONDITIONED_TINY = dataclasses.replace(CONFIGS["tiny"], cutoff_conditioning=False)
CUTOFFS_HZ = np.array([[4000.0], [8000.0]], dtype=np.float32)


def randomise_films(model, seed: int = 1):
    """FiLM layers start as the identity; give them weights so the cutoff matters."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.name.endswith("_film"):
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    return model


def test_tiny_conditioned_unet_runs_and_starts_as_the_interpolated_input():
    config = CONFIGS["tiny"]
    assert config.cutoff_conditioning
    model = build_unet(config)
    assert [tuple(i.shape) for i in model.inputs] == [(None, None, 1), (None, 1)]
    x = np.random.default_rng(1).normal(0, 0.1, (2, 4 * config.length_multiple, 1))
    y = np.asarray(model([x.astype(np.float32), CUTOFFS_HZ], training=False))
    assert y.shape == x.shape
    # zero-initialised output conv: an untrained model reproduces the `resample` baseline
    np.testing.assert_allclose(y, x, atol=1e-7)
    randomise_output(model)
    out = np.asarray(model([x.astype(np.float32), CUTOFFS_HZ]))
    assert np.abs(out - x).max() > 1e-3
    # the cutoff reaches the output once the FiLM layers have weights
    randomise_films(model)
    low = np.asarray(model([x.astype(np.float32), np.full((2, 1), 4000.0, np.float32)]))
    high = np.asarray(model([x.astype(np.float32), np.full((2, 1), 8000.0, np.float32)]))
    assert np.abs(low - high).max() > 1e-4


def test_film_layers_start_as_the_identity():
    """Conditioned and unconditioned nets with the same shared weights compute the same."""
    plain = randomise_output(build_unet(UNCONDITIONED_TINY))
    conditioned = build_unet(CONFIGS["tiny"])
    for layer in plain.layers:
        if layer.get_weights():
            conditioned.get_layer(layer.name).set_weights(layer.get_weights())
    x = np.random.default_rng(3).normal(0, 0.1, (2, 64, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(conditioned([x, CUTOFFS_HZ])), np.asarray(plain(x)),
                               atol=1e-6)


def test_unconditioned_config_builds_the_single_input_network():
    model = build_unet(UNCONDITIONED_TINY)
    assert len(model.inputs) == 1
    assert not any(layer.name.endswith("_film") for layer in model.layers)


def test_save_load_round_trip_gives_identical_output(tmp_path):
    model = randomise_films(randomise_output(build_unet(CONFIGS["tiny"])))
    path = tmp_path / "unet.keras"
    model.save(path)
    loaded = load_model(path)
    x = np.random.default_rng(2).normal(0, 0.1, (2, 256, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded([x, CUTOFFS_HZ])),
                               np.asarray(model([x, CUTOFFS_HZ])), atol=1e-7)


def test_cost_counts_match_keras_parameter_count():
    for config in (CONFIGS["tiny"], CONFIGS["small"], UNCONDITIONED_TINY):
        assert cost_per_audio_second(config)["params"] == build_unet(config).count_params()
    # the serving config stays inside the CPU budget of shared/notes/anchors.md
    assert cost_per_audio_second(CONFIGS["small"])["gflop_per_audio_s"] < 5


def test_config_round_trips_through_dict_and_old_cards_read_unconditioned():
    config = CONFIGS["small"]
    assert UNetConfig.from_dict(config.to_dict()) == config
    assert config.length_multiple == 2 ** (len(config.filters) + 1)
    old = config.to_dict()
    del old["cutoff_conditioning"], old["condition_units"]  # a card before conditioning
    assert UNetConfig.from_dict(old) == dataclasses.replace(config, cutoff_conditioning=False)
