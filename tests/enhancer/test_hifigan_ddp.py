"""DDP on CPU (gloo, 2 processes): gradients are synchronised through the wrapper.

After one step each rank saw different data, yet parameters are equal across ranks and equal to
a single-process step on the mean of the two ranks' gradients.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from services.enhancer import train
from services.enhancer.model.config import load_config
from services.enhancer.train_steps import _reconstruction, gan_step, reconstruction_step

TINY = load_config("tiny")
GENERATOR_PHASE, GAN_PHASE = TINY.train.phases[0], TINY.train.phases[2]


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    clean = 0.1 * torch.randn(2, 1, 2000, generator=g)
    return clean + 0.05 * torch.randn(2, 1, 2000, generator=g), clean


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(rank)  # different init per rank: DDP must broadcast rank 0's weights
    ctx, enhancer, discriminators = train.build_context(TINY, torch.device("cpu"), True)
    train.set_phase_learning_rates(ctx, 0)
    reconstruction_step(ctx, GENERATOR_PHASE, *_batch(seed=100 + rank))
    torch.save(enhancer.state_dict(), Path(out) / f"generator_rank{rank}.pt")
    train.set_phase_learning_rates(ctx, 2)
    gan_step(ctx, GAN_PHASE, *_batch(seed=200 + rank))
    torch.save({"enhancer": enhancer.state_dict(), "discriminators": discriminators.state_dict()},
               Path(out) / f"gan_rank{rank}.pt")
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _mean_gradient_reference() -> dict[str, torch.Tensor]:
    """One process, rank 0's initial weights, the mean of both ranks' gradients, one step."""
    torch.manual_seed(0)
    ctx, enhancer, _ = train.build_context(TINY, torch.device("cpu"), False)
    train.set_phase_learning_rates(ctx, 0)
    grads = []
    for rank in (0, 1):
        ctx.optimizer_generator.zero_grad(set_to_none=True)
        noisy, clean = _batch(seed=100 + rank)
        wave, _ = enhancer(noisy, use_postnet=False)
        _reconstruction(ctx, wave, wave, clean, GENERATOR_PHASE).backward()
        grads.append([None if p.grad is None else p.grad.clone() for p in enhancer.parameters()])
    for p, g0, g1 in zip(enhancer.parameters(), grads[0], grads[1], strict=True):
        p.grad = None if g0 is None else (g0 + g1) / 2
    ctx.optimizer_generator.step()
    return enhancer.state_dict()


@pytest.mark.slow  # two process start-ups: ≈20 s idle, longer on a busy machine
def test_ddp_synchronises_gradients(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"generator_rank{r}.pt", weights_only=True) for r in (0, 1)]
    reference = _mean_gradient_reference()
    for name, value in reference.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name
        assert torch.allclose(ranks[0][name], value, atol=1e-6), name
    # The ranks' data really differed: rank 0's gradient alone gives another step.
    assert any(not torch.allclose(ranks[0][n], _single_rank_step()[n], atol=1e-6)
               for n in reference)
    gan = [torch.load(tmp_path / f"gan_rank{r}.pt", weights_only=True) for r in (0, 1)]
    for part in ("enhancer", "discriminators"):
        for name in gan[0][part]:
            assert torch.equal(gan[0][part][name], gan[1][part][name]), (part, name)


def _single_rank_step() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    ctx, enhancer, _ = train.build_context(TINY, torch.device("cpu"), False)
    train.set_phase_learning_rates(ctx, 0)
    reconstruction_step(ctx, GENERATOR_PHASE, *_batch(seed=100))
    return enhancer.state_dict()
