"""HiFi-GAN losses: waveform L1, multi-resolution STFT, LSGAN, deep feature matching.

The STFT loss computes both magnitudes with one function: the seed divided target and
prediction by different FFT sizes (a constant ≈6 dB bias the network then had to learn).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from services.enhancer.model.config import TrainConfig


def waveform_l1_loss(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(estimate, target)


def stft_magnitude(audio: torch.Tensor, n_fft: int) -> torch.Tensor:
    """audio: [B, 1, T] → |STFT| [B, F, frames], hop n_fft/4, Hann window, unnormalised.

    The only place a magnitude is computed, so target and estimate are scaled identically.
    """
    window = torch.hann_window(n_fft, device=audio.device)
    spec = torch.stft(audio.reshape(-1, audio.shape[-1]).float(), n_fft, n_fft // 4,
                      window=window, return_complex=True)
    # Floor at -100 dB: below it, log-magnitude errors in silence would dominate the loss.
    return spec.abs().clamp(min=1e-5)


def multi_resolution_stft_loss(estimate: torch.Tensor, target: torch.Tensor,
                               fft_sizes: tuple[int, ...] = (512, 1024, 2048)) -> torch.Tensor:
    """Mean over resolutions of spectral convergence + log-magnitude L1 (Yamamoto et al. 2020)."""
    total = estimate.new_zeros(())
    for n_fft in fft_sizes:
        est, ref = stft_magnitude(estimate, n_fft), stft_magnitude(target, n_fft)
        convergence = torch.linalg.norm(ref - est) / torch.linalg.norm(ref).clamp(min=1e-7)
        log_magnitude = F.l1_loss(torch.log(est), torch.log(ref))
        total = total + convergence + log_magnitude
    return total / len(fft_sizes)


def discriminator_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]
                       ) -> torch.Tensor:
    """LSGAN for D: real scores → 1, fake scores → 0. `fake` must come from a detached output."""
    total = real[0][-1].new_zeros(())
    for real_features, fake_features in zip(real, fake, strict=True):
        total = total + torch.mean((real_features[-1] - 1.0) ** 2)
        total = total + torch.mean(fake_features[-1] ** 2)
    return total / len(real)


def generator_adversarial_loss(fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """LSGAN for G: push fake scores → 1."""
    return sum(torch.mean((f[-1] - 1.0) ** 2) for f in fake) / len(fake)


def feature_matching_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]
                          ) -> torch.Tensor:
    """L1 between real and fake activations over every layer of every discriminator."""
    total = fake[0][0].new_zeros(())
    layers = 0
    for real_features, fake_features in zip(real, fake, strict=True):
        for r, f in zip(real_features, fake_features, strict=True):
            total = total + F.l1_loss(f, r.detach())
            layers += 1
    return total / layers


def reconstruction_loss(estimate: torch.Tensor, target: torch.Tensor,
                        fft_sizes: tuple[int, ...], l1_weight: float, stft_weight: float
                        ) -> torch.Tensor:
    return (l1_weight * waveform_l1_loss(estimate, target)
            + stft_weight * multi_resolution_stft_loss(estimate, target, fft_sizes))


def compressed_spectral_loss(estimate: torch.Tensor, target: torch.Tensor,
                             fft_sizes: tuple[int, ...], compression: float = 0.3
                             ) -> torch.Tensor:
    """DeepFilterNet's multi-resolution spectral loss: MSE of power-law compressed magnitudes
    plus MSE of the compressed complex spectra (which keeps the phase), mean over resolutions.

    estimate, target: [B, 1, T]. Compression (|X|**0.3) weighs quiet bins — the noise floor
    between words — near to loud ones, as hearing does.
    """
    total = estimate.new_zeros(())
    for n_fft in fft_sizes:
        window = torch.hann_window(n_fft, device=estimate.device)
        specs = [torch.stft(a.reshape(-1, a.shape[-1]).float(), n_fft, n_fft // 4, window=window,
                            return_complex=True) for a in (estimate, target)]
        mags = [s.abs().clamp(min=1e-8) for s in specs]
        compressed_mags = [m**compression for m in mags]
        compressed = [torch.view_as_real(s / m * c)
                      for s, m, c in zip(specs, mags, compressed_mags, strict=True)]
        total = total + F.mse_loss(compressed_mags[0], compressed_mags[1])
        total = total + F.mse_loss(compressed[0], compressed[1])
    return total / len(fft_sizes)


def si_sdr_loss(estimate: torch.Tensor, target: torch.Tensor, max_db: float = 30.0
                ) -> torch.Tensor:
    """Negative scale-invariant SDR in dB, mean over the batch. estimate, target: [B, 1, T].

    Soft-capped at `max_db` (the thresholded SNR of Wisdom et al. 2020): the error counts as at
    least 10^(−max_db/10) of the projection. Uncapped, an example already near its target (a
    clean input, one only coloured) had a gradient 20–50× a noisy one's (ErbNet, step 22,000),
    so after clipping the batch's update served those examples, not the noisy ones.
    """
    est = estimate.reshape(estimate.shape[0], -1).float()
    ref = target.reshape(target.shape[0], -1).float()
    est = est - est.mean(dim=-1, keepdim=True)
    ref = ref - ref.mean(dim=-1, keepdim=True)
    scale = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + 1e-8)
    projection = scale * ref
    power = projection.pow(2).sum(-1)
    error = (est - projection).pow(2).sum(-1) + 10 ** (-max_db / 10) * power
    return -10.0 * torch.log10(power / (error + 1e-8) + 1e-8).mean()


def training_reconstruction_loss(train: TrainConfig, estimate: torch.Tensor,
                                 target: torch.Tensor) -> torch.Tensor:
    """The reconstruction term a family's TrainConfig asks for (`loss`)."""
    if train.loss == "l1_stft":
        loss = reconstruction_loss(estimate, target, train.stft_fft_sizes, train.l1_weight,
                                   train.stft_weight)
    elif train.loss == "compressed_spectral":
        loss = compressed_spectral_loss(estimate, target, train.stft_fft_sizes,
                                        train.spectral_compression)
    else:
        raise ValueError(f"unknown reconstruction loss {train.loss!r}")
    if train.si_sdr_weight:
        loss = loss + train.si_sdr_weight * si_sdr_loss(estimate, target)
    return loss
