"""Chunked inference (overlap-add round trip, exact length, chunk invariance) and the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from services.enhancer import engines
from services.enhancer.checkpoint import save_checkpoint
from services.enhancer.inference import chunk_starts, crossfade_weights, enhance
from services.enhancer.model.config import load_config
from services.enhancer.model.enhancer import Enhancer

torch.set_num_threads(1)
TINY = load_config("tiny")


class IdentityEnhancer(Enhancer):
    def forward(self, noisy, use_postnet=True):
        return noisy, noisy


@pytest.mark.parametrize("n", [1, 100, 799, 800, 801, 4000, 12345])
def test_overlap_add_round_trip_is_exact(n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    y = enhance(IdentityEnhancer(TINY), x, 16000, chunk_s=0.05, crossfade_s=0.01, batch_size=3)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.max(np.abs(y - x)) < 1e-6


def test_crossfade_weights_sum_to_one():
    n, chunk, fade = 5000, 800, 160
    total = np.zeros(n)
    starts = chunk_starts(n, chunk, fade)
    for s in starts:
        length = min(chunk, n - s)
        total[s:s + length] += crossfade_weights(length, fade, s == 0, s + chunk >= n)
    assert np.allclose(total, 1.0)
    # Equal-power pair: the square roots of the two ramps have unit power everywhere.
    ramp = crossfade_weights(chunk, fade, first=False, last=True)[:fade]
    assert np.allclose(np.sqrt(ramp) ** 2 + np.sqrt(ramp[::-1]) ** 2, 1.0)


def test_chunked_equals_whole_for_a_trained_shape_model():
    torch.manual_seed(0)
    model = Enhancer(TINY).eval()
    torch.nn.init.normal_(model.postnet.convs[-1].weight, std=0.3)
    x = (0.1 * np.random.default_rng(0).standard_normal(6000)).astype(np.float32)
    with torch.no_grad():
        whole = model(torch.from_numpy(x)[None, None])[1][0, 0].numpy()
    chunked = enhance(model, x, 16000, chunk_s=0.05, crossfade_s=0.005)
    # Each chunk carries enough context that its boundaries change nothing measurable. Only the
    # recording's own edges differ (zeros padded before the network vs inside each conv).
    edge = model.generator.receptive_field + model.config.postnet.kernel_size
    assert len(chunked) // 800 >= 6  # many chunk boundaries inside the compared span
    assert np.max(np.abs(chunked - whole)[edge:-edge]) < 1e-5


def test_other_rates_come_back_at_their_rate_and_length():
    x = np.sin(2 * np.pi * 440 * np.arange(44_100) / 44_100).astype(np.float32) * 0.3
    y = enhance(IdentityEnhancer(TINY), x, 44_100)
    assert len(y) == len(x)
    assert np.corrcoef(x[1000:-1000], y[1000:-1000])[0, 1] > 0.999


def test_memory_is_flat_in_duration(monkeypatch):
    """The model only ever sees batch_size × (chunk + context): independent of duration."""
    seen = []
    model = IdentityEnhancer(TINY)
    real_forward = model.forward
    monkeypatch.setattr(model, "forward", lambda x, **k: seen.append(x.shape) or real_forward(x))
    for seconds in (1, 30):
        seen.clear()
        enhance(model, np.zeros(16000 * seconds, np.float32), 16000, chunk_s=0.5, batch_size=2)
        assert max(s[0] * s[-1] for s in seen) <= 2 * (8000 + 200)


def test_engine_loads_checkpoint(tmp_path, monkeypatch):
    from services.enhancer import hifigan_engine

    ck = tmp_path / "hifigan_small.pt"
    monkeypatch.setenv("SPEAKUP_HIFIGAN_CHECKPOINT", str(tmp_path / "missing.pt"))
    assert not hifigan_engine.available()
    monkeypatch.setenv("SPEAKUP_HIFIGAN_CHECKPOINT", str(ck))
    model = Enhancer(TINY)
    save_checkpoint(ck, TINY, model.state_dict(), step=3)
    assert hifigan_engine.available()
    engine = hifigan_engine.HiFiGANEngine()
    x = (0.1 * np.random.default_rng(0).standard_normal(5000)).astype(np.float32)
    assert engine.enhance(x, 16000).shape == x.shape
    assert np.array_equal(engine.enhance(x, 16000, strength=0.0), x)
    assert engine.version == "tiny-step3"

    assert "hifigan" in engines.names()
