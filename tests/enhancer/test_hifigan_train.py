"""Training regression tests (the seed fork's bugs), phases as data, checkpoints and resume."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from services.enhancer import train
from services.enhancer.checkpoint import (
    CheckpointError,
    build_enhancer,
    load_checkpoint,
    save_checkpoint,
)
from services.enhancer.model.config import load_config
from services.enhancer.model.enhancer import Enhancer
from services.enhancer.train_steps import gan_step, phase_at, reconstruction_step, step_function

torch.set_num_threads(1)
TINY = load_config("tiny")
GAN = TINY.train.phases[2]


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    clean = 0.1 * torch.randn(2, 1, 2000, generator=g)
    return clean + 0.03 * torch.randn(2, 1, 2000, generator=g), clean


def _context():
    torch.manual_seed(0)
    ctx, enhancer, discriminators = train.build_context(TINY, torch.device("cpu"), False)
    # Make the Postnet differ from the identity so its output can be told from the WaveNet's.
    torch.nn.init.normal_(enhancer.postnet.convs[-1].weight, std=0.3)
    train.set_phase_learning_rates(ctx, 2)
    return ctx, enhancer, discriminators


def _params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True))


def test_gan_phase_steps_d_and_g_separately(monkeypatch):
    """Regression: the seed summed D and G losses into one scalar and stepped both on it."""
    ctx, enhancer, discriminators = _context()
    events: list[str] = []
    d_step, g_step = ctx.optimizer_discriminator.step, ctx.optimizer_generator.step
    g_before, d_before = _params(enhancer), _params(discriminators)

    def on_d_step(*a, **k):
        # When D steps, G has not moved and D's loss gave G no gradient (detached output).
        assert not _changed(g_before, enhancer)
        assert all(p.grad is None for p in enhancer.parameters())
        events.append("D")
        return d_step(*a, **k)

    def on_g_step(*a, **k):
        d_after_own_step = _params(discriminators)
        events.append("G")
        out = g_step(*a, **k)
        # G's step leaves D as D's own step left it.
        assert not _changed(d_after_own_step, discriminators)
        return out

    monkeypatch.setattr(ctx.optimizer_discriminator, "step", on_d_step)
    monkeypatch.setattr(ctx.optimizer_generator, "step", on_g_step)
    scalars = gan_step(ctx, GAN, *_batch())
    assert events == ["D", "G"]
    assert _changed(g_before, enhancer) and _changed(d_before, discriminators)
    assert {"loss/discriminator", "loss/adversarial", "loss/feature_matching"} <= set(scalars)


def test_discriminators_judge_the_postnet_output():
    """Regression: the seed fed the discriminators the WaveNet output."""
    ctx, enhancer, discriminators = _context()
    noisy, clean = _batch()
    seen: list[torch.Tensor] = []
    discriminators.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    with torch.no_grad():
        wave, final = enhancer(noisy)
    assert not torch.allclose(wave, final)
    gan_step(ctx, GAN, noisy, clean)
    assert len(seen) == 2
    for judged in seen:
        assert torch.equal(judged[:2], clean)
        assert torch.allclose(judged[2:], final, atol=1e-6)


def test_reconstruction_phases_touch_only_the_generator_side():
    ctx, enhancer, discriminators = _context()
    phase1 = TINY.train.phases[0]
    d_before, post_before = _params(discriminators), _params(enhancer.postnet)
    train.set_phase_learning_rates(ctx, 0)
    reconstruction_step(ctx, phase1, *_batch())
    assert not _changed(d_before, discriminators)
    assert not _changed(post_before, enhancer.postnet)  # phase 1 trains the WaveNet alone
    reconstruction_step(ctx, TINY.train.phases[1], *_batch())
    assert _changed(post_before, enhancer.postnet)


def test_phases_are_a_table():
    phases = TINY.train.phases
    assert [phase_at(phases, s)[1].name for s in range(7)] == [
        "generator", "generator", "postnet", "postnet", "gan", "gan", "gan"]
    assert step_function(phases[0]) is reconstruction_step
    assert step_function(phases[2]) is gan_step


def test_checkpoint_round_trip_with_its_own_config(tmp_path):
    """Regression: the seed's models read a global hparams, so checkpoints lost their config."""
    ctx, enhancer, _ = _context()
    path = tmp_path / "ck.pt"
    save_checkpoint(path, TINY, enhancer.state_dict(), step=7, metrics={"val/si_sdr_db": 1.5})
    bundle = load_checkpoint(path)  # weights_only=True inside
    assert bundle["format_version"] == 1 and bundle["model"] == "hifigan" and bundle["step"] == 7
    rebuilt = build_enhancer(bundle)
    assert rebuilt.config == TINY
    x = _batch()[0]
    with torch.no_grad():
        assert torch.equal(rebuilt(x)[1], enhancer.eval()(x)[1])
    assert not list(tmp_path.glob(".*.tmp"))  # atomic: no temp file left behind


def test_checkpoint_rejects_foreign_files(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    enhancer = build_enhancer({"config": load_checkpoint_config(), "enhancer":
                               Enhancer(TINY).state_dict()})
    save_checkpoint(path, TINY, enhancer.state_dict(), step=1)
    monkeypatch.setattr(torch, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk")))
    with pytest.raises(OSError):
        save_checkpoint(path, TINY, enhancer.state_dict(), step=2)
    assert load_checkpoint(path)["step"] == 1
    assert not list(tmp_path.glob(".*.tmp"))


def load_checkpoint_config():
    from services.enhancer.model.config import config_to_dict

    return config_to_dict(TINY)


def _fabricated_data(root: Path) -> None:
    """One training speaker, twelve utterances; a0010 falls in the validation hold-back."""
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 2) / 16000
    (root / "clean").mkdir(parents=True, exist_ok=True)
    for i in range(1, 13):
        voice = 0.1 * np.sin(2 * np.pi * (120 + 10 * i) * t) * (1 + np.sin(2 * np.pi * 3 * t))
        sf.write(root / "clean" / f"cmu_arctic_us_aew_a{i:04d}.wav",
                 (voice + 0.001 * rng.standard_normal(len(t))).astype(np.float32), 16000)


@pytest.mark.slow
def test_cli_trains_all_phases_and_resumes(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    _fabricated_data(data)
    args = ["--config", "tiny", "--data-dir", str(data), "--run-dir", str(run),
            "--validate-every", "3", "--log-every", "1", "--simulated-rirs", "1"]
    train.main([*args, "--steps", "3"])
    first = load_checkpoint(run / "last.pt")
    assert first["step"] == 3 and (run / "best.pt").exists()
    train.main([*args, "--steps", "6"])
    second = load_checkpoint(run / "last.pt")
    assert second["step"] == 6
    moved = [not torch.equal(first["discriminators"][k], second["discriminators"][k])
             for k in first["discriminators"]]
    assert any(moved)  # steps 4–6 are the GAN phase: the discriminators trained after resume
    assert copy.deepcopy(second["config"]) == first["config"]


@pytest.mark.slow
def test_cli_starts_from_a_shipped_bundle(tmp_path):
    """--init-from: a serving bundle's weights and step, in a run dir that has no last.pt."""
    from services.enhancer.checkpoint import export_for_serving

    data, first_run, run = tmp_path / "data", tmp_path / "first", tmp_path / "run"
    _fabricated_data(data)
    common = ["--config", "tiny", "--data-dir", str(data), "--validate-every", "100",
              "--log-every", "1", "--simulated-rirs", "1"]
    train.main([*common, "--run-dir", str(first_run), "--steps", "2"])
    export_for_serving(first_run / "last.pt", tmp_path / "shipped.pt")
    shipped = load_checkpoint(tmp_path / "shipped.pt")
    train.main([*common, "--run-dir", str(run), "--steps", "3",
                "--init-from", str(tmp_path / "shipped.pt")])
    resumed = load_checkpoint(run / "last.pt")
    assert resumed["step"] == 3  # one step on from the bundle's 2
    fresh = train.build_context(TINY, torch.device("cpu"), False)[1].state_dict()

    def distance(state: dict[str, torch.Tensor]) -> float:
        return sum(float((state[k] - v).abs().sum()) for k, v in shipped["enhancer"].items())

    # trained on from the bundle (one small step away), not from a new initialisation
    assert 0 < distance(resumed["enhancer"]) < 0.1 * distance(fresh)


def test_export_keeps_only_what_serving_needs(tmp_path):
    from services.enhancer.checkpoint import export_for_serving

    ctx, enhancer, discriminators = _context()
    source = tmp_path / "last.pt"
    train._save(source, ctx, enhancer, discriminators, 5, {"val/si_sdr_db": 2.0}, 12.0)
    export_for_serving(source, tmp_path / "serve.pt")
    served = load_checkpoint(tmp_path / "serve.pt")
    assert served["step"] == 5 and served["metrics"] == {"val/si_sdr_db": 2.0}
    assert "discriminators" not in served and "optimizers" not in served
    assert (tmp_path / "serve.pt").stat().st_size < source.stat().st_size
    assert build_enhancer(served).config == TINY
