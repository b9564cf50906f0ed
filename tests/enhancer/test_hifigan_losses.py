"""Loss regression tests: one STFT normalisation for both signals; LSGAN signs; every layer."""

from __future__ import annotations

import math

import torch

from services.enhancer import losses

torch.set_num_threads(1)


def _speechlike(n: int = 8000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / 16000
    tone = sum(torch.sin(2 * math.pi * f * t) / k for k, f in enumerate([150, 300, 450], 1))
    return (0.1 * tone + 0.01 * torch.randn(n, generator=g)).reshape(1, 1, n)


def test_stft_loss_is_zero_for_identical_signals():
    """The seed scaled target and prediction by different FFT sizes: loss(x, x) was not 0."""
    x = _speechlike()
    assert float(losses.multi_resolution_stft_loss(x, x.clone(), (256, 512, 1024))) == 0.0


def test_stft_loss_has_no_level_bias():
    """A 6 dB level error costs the same whichever side is louder, at every FFT size."""
    x = _speechlike()
    for n_fft in (256, 512, 1024):
        loud = losses.multi_resolution_stft_loss(2 * x, x, (n_fft,))
        quiet = losses.multi_resolution_stft_loss(x, 2 * x, (n_fft,))
        log_term = float(torch.log(torch.tensor(2.0)))  # |log 2x − log x|
        assert loud > 0 and quiet > 0
        # The log-magnitude part is symmetric; it is exactly log 2 away from clamped bins.
        est, ref = losses.stft_magnitude(2 * x, n_fft), losses.stft_magnitude(x, n_fft)
        strong = ref > 1e-3
        assert torch.allclose(torch.log(est[strong]) - torch.log(ref[strong]),
                              torch.full_like(est[strong], log_term), atol=1e-4)


def test_stft_magnitude_scales_linearly():
    x = _speechlike()
    assert torch.allclose(losses.stft_magnitude(3 * x, 512)[losses.stft_magnitude(x, 512) > 1e-3],
                          3 * losses.stft_magnitude(x, 512)[losses.stft_magnitude(x, 512) > 1e-3],
                          rtol=1e-3)


def test_lsgan_losses_point_the_right_way():
    perfect_real = [[torch.ones(2, 3)]]
    perfect_fake = [[torch.zeros(2, 3)]]
    assert float(losses.discriminator_loss(perfect_real, perfect_fake)) == 0.0
    assert float(losses.discriminator_loss(perfect_fake, perfect_real)) == 2.0
    assert float(losses.generator_adversarial_loss(perfect_real)) == 0.0
    assert float(losses.generator_adversarial_loss(perfect_fake)) == 1.0


def test_feature_matching_uses_every_layer_and_only_moves_fake():
    real = [[torch.zeros(2, 4), torch.zeros(2, 4)], [torch.zeros(2, 4)]]
    for disc in range(2):
        for layer in range(len(real[disc])):
            fake = [[t.clone().requires_grad_() for t in d] for d in real]
            fake[disc][layer] = fake[disc][layer] + 1.0
            assert float(losses.feature_matching_loss(real, fake)) > 0
    real_param = torch.zeros(2, 4, requires_grad=True)
    fake_param = torch.ones(2, 4, requires_grad=True)
    losses.feature_matching_loss([[real_param]], [[fake_param]]).backward()
    assert real_param.grad is None and fake_param.grad.abs().sum() > 0
