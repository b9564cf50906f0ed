"""One HiFi-GAN training step per phase kind — the loop in train.py picks one by data.

Invariants the seed's fork broke, kept here on purpose:
- the discriminators judge the Postnet output (the network's final output);
- D and G have separate losses, backward passes and optimizer steps; D sees a detached output;
- every forward goes through the (possibly DDP-wrapped) module, so gradients are synchronised.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from services.enhancer import losses
from services.enhancer.model.config import PhaseConfig

log = logging.getLogger(__name__)


@dataclass
class StepContext:
    config: Any  # a family's config: HiFiGANConfig, ErbNetConfig
    enhancer: nn.Module  # Enhancer, or DDP(Enhancer)
    discriminators: nn.Module  # Discriminators, or DDP(Discriminators)
    optimizer_generator: torch.optim.Optimizer
    optimizer_discriminator: torch.optim.Optimizer
    device: torch.device

    def autocast(self) -> contextlib.AbstractContextManager:
        # bf16 on GPU only: CPU bf16 matmuls are slower here than fp32.
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


def _reconstruction(ctx: StepContext, wave: torch.Tensor, final: torch.Tensor,
                    clean: torch.Tensor, phase: PhaseConfig) -> torch.Tensor:
    t = ctx.config.train
    loss = losses.training_reconstruction_loss(t, final.float(), clean)
    if phase.use_postnet:  # keep the WaveNet output itself a good estimate too
        loss = loss + losses.training_reconstruction_loss(t, wave.float(), clean)
    return loss


def _clip_generator_gradients(ctx: StepContext) -> bool:
    """Recurrent networks take the odd huge gradient; the config's norm bounds it (0: off).

    Returns False where the gradient is not finite: the caller then skips the step. One such
    batch (ErbNet, step 23,630) otherwise turned every weight into NaN for good.
    """
    parameters = [p for p in ctx.enhancer.parameters() if p.grad is not None]
    max_norm = ctx.config.train.grad_clip_norm if ctx.config.train.grad_clip_norm > 0 else math.inf
    norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    return bool(torch.isfinite(norm))


def reconstruction_step(ctx: StepContext, phase: PhaseConfig, noisy: torch.Tensor,
                        clean: torch.Tensor) -> dict[str, float]:
    """Phases without GAN: generator alone, or generator + Postnet (L1 + multi-res STFT)."""
    ctx.optimizer_generator.zero_grad(set_to_none=True)
    with ctx.autocast():
        wave, final = ctx.enhancer(noisy, use_postnet=phase.use_postnet)
    loss = _reconstruction(ctx, wave, final, clean, phase)
    loss.backward()
    if not _clip_generator_gradients(ctx):
        log.warning("non-finite loss or gradient (loss %s): step skipped", float(loss.detach()))
        ctx.optimizer_generator.zero_grad(set_to_none=True)
        return {"skipped_steps": 1.0}
    ctx.optimizer_generator.step()
    return {"loss/reconstruction": float(loss.detach()), "skipped_steps": 0.0}


def _split(features: list[list[torch.Tensor]], batch: int
           ) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    real = [[f[:batch] for f in disc] for disc in features]
    fake = [[f[batch:] for f in disc] for disc in features]
    return real, fake


def gan_step(ctx: StepContext, phase: PhaseConfig, noisy: torch.Tensor, clean: torch.Tensor
             ) -> dict[str, float]:
    """LSGAN: a discriminator step on the detached Postnet output, then a generator step."""
    t = ctx.config.train
    batch = clean.shape[0]
    with ctx.autocast():
        wave, final = ctx.enhancer(noisy, use_postnet=True)

    ctx.optimizer_discriminator.zero_grad(set_to_none=True)
    with ctx.autocast():
        real, fake = _split(ctx.discriminators(torch.cat([clean, final.detach()])), batch)
    d_loss = losses.discriminator_loss(real, fake)
    d_loss.backward()
    ctx.optimizer_discriminator.step()

    ctx.optimizer_generator.zero_grad(set_to_none=True)
    with ctx.autocast():
        real, fake = _split(ctx.discriminators(torch.cat([clean, final])), batch)
    adversarial = losses.generator_adversarial_loss(fake)
    matching = losses.feature_matching_loss(real, fake)
    reconstruction = _reconstruction(ctx, wave, final, clean, phase)
    g_loss = (t.adversarial_weight * adversarial + t.feature_matching_weight * matching
              + reconstruction)
    g_loss.backward()
    # The generator backward also filled D's grads; they are cleared before D's next step.
    finite = _clip_generator_gradients(ctx)
    if finite:
        ctx.optimizer_generator.step()
    else:
        log.warning("non-finite generator gradient: generator step skipped")
        ctx.optimizer_generator.zero_grad(set_to_none=True)
    return {"skipped_steps": 0.0 if finite else 1.0,
            "loss/discriminator": float(d_loss.detach()),
            "loss/adversarial": float(adversarial.detach()),
            "loss/feature_matching": float(matching.detach()),
            "loss/reconstruction": float(reconstruction.detach())}


def step_function(phase: PhaseConfig):
    return gan_step if phase.use_gan else reconstruction_step


def phase_at(phases: tuple[PhaseConfig, ...], step: int) -> tuple[int, PhaseConfig]:
    """Which phase a global step belongs to (the last phase continues past its end)."""
    end = 0
    for index, phase in enumerate(phases):
        end += phase.steps
        if step < end:
            return index, phase
    return len(phases) - 1, phases[-1]
