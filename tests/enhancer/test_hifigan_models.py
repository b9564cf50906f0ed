"""Tiny-config smoke tests of every HiFi-GAN network, and the paper/small sizes."""

from __future__ import annotations

import pytest
import torch

from services.enhancer.model.config import config_from_dict, config_to_dict, load_config
from services.enhancer.model.discriminators import Discriminators
from services.enhancer.model.enhancer import Enhancer
from services.enhancer.model.generator import WaveNetGenerator
from services.enhancer.model.mel_discriminator import MelDiscriminator
from services.enhancer.model.postnet import Postnet
from services.enhancer.model.waveform_discriminator import MultiRateWaveformDiscriminator

torch.set_num_threads(1)
TINY = load_config("tiny")


def test_generator_keeps_length_and_sees_the_future():
    torch.manual_seed(0)
    gen = WaveNetGenerator(TINY.generator)
    x = torch.zeros(1, 1, 400)
    x[0, 0, 300] = 1.0
    y = gen(x) - gen(torch.zeros_like(x))
    assert y.shape == x.shape
    changed = torch.nonzero(y[0, 0].abs() > 1e-7).flatten()
    half = gen.receptive_field // 2
    # Non-causal: an impulse at 300 changes outputs before it, within half the receptive field.
    assert changed.min() == 300 - half and changed.max() == 300 + half


def test_input_skip_generator_starts_as_identity():
    gen = WaveNetGenerator(load_config("small").generator)
    x = torch.randn(2, 1, 3000)
    assert torch.equal(gen(x), x)


def test_postnet_starts_as_identity_and_trains():
    post = Postnet(TINY.postnet)
    x = torch.randn(2, 1, 500)
    assert torch.equal(post(x), x)
    post(x).sub(0.5 * x).pow(2).mean().backward()
    assert post.convs[-1].weight.grad.abs().sum() > 0


def test_enhancer_outputs_both_stages():
    model = Enhancer(TINY)
    wave, final = model(torch.randn(3, 1, 700))
    assert wave.shape == final.shape == (3, 1, 700)
    wave, final = model(torch.randn(1, 1, 700), use_postnet=False)
    assert final is wave


def test_waveform_discriminators_run_at_three_rates():
    disc = MultiRateWaveformDiscriminator(TINY.wave_discriminator)
    outputs = disc(torch.randn(2, 1, 4000))
    assert len(outputs) == 3
    # Each rate halves the input: the final score maps shrink accordingly.
    lengths = [o[-1].shape[-1] for o in outputs]
    assert lengths[0] > lengths[1] > lengths[2]
    assert all(len(o) == len(TINY.wave_discriminator.channels) + 3 for o in outputs)


def test_mel_discriminator_sees_log_mel():
    disc = MelDiscriminator(TINY.mel_discriminator, TINY.sample_rate_hz)
    mel = disc.log_mel(torch.randn(2, 1, 4000))
    assert mel.shape[:3] == (2, 1, TINY.mel_discriminator.n_mels)
    features = disc(torch.randn(2, 1, 4000))
    features[-1].mean().backward()
    assert all(p.grad is not None for p in disc.parameters())


def test_all_discriminators_backprop_to_the_input():
    disc = Discriminators(TINY)
    audio = torch.randn(2, 1, 4000, requires_grad=True)
    outputs = disc(audio)
    assert len(outputs) == 4
    sum(o[-1].mean() for o in outputs).backward()
    assert audio.grad.abs().sum() > 0


def test_config_round_trips_through_plain_data():
    for name in ("tiny", "small", "paper"):
        config = load_config(name)
        assert config_from_dict(config_to_dict(config)) == config


def test_unknown_config_key_fails():
    data = config_to_dict(TINY)
    data["generator"]["channels"] = 3
    with pytest.raises(ValueError):
        config_from_dict(data)


def test_paper_and_small_sizes():
    """Paper: 2×10 layers × 128 ch; small stays under 5 GFLOP per audio second."""
    from torch.utils.flop_counter import FlopCounterMode

    paper, small = load_config("paper"), load_config("small")
    assert (paper.generator.stacks, paper.generator.layers_per_stack) == (2, 10)
    assert paper.generator.residual_channels == 128
    assert (paper.postnet.layers, paper.postnet.channels, paper.postnet.kernel_size) == (12, 128,
                                                                                        31)
    model = Enhancer(small)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 1, small.sample_rate_hz))
    assert counter.get_total_flops() < 5e9
