"""ErbNet: tiny-config smoke, known-answer parts, chunked == whole file, checkpoints, training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from services.enhancer import losses, train
from services.enhancer.checkpoint import (
    CheckpointError,
    build_enhancer,
    export_for_serving,
    load_checkpoint,
    save_checkpoint,
)
from services.enhancer.erbnet.config import load_config
from services.enhancer.erbnet.model import ErbNet, erb_band_edges, erb_matrices
from services.enhancer.inference import enhance
from services.enhancer.train_steps import gan_step, reconstruction_step

torch.set_num_threads(1)
TINY = load_config("tiny")
RATE = 16_000


def _speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Harmonics of a gliding 120–180 Hz voice, amplitude-modulated like syllables."""
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 150 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(h * phase) / h for h in range(1, 20))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t + seed))
    return (0.05 * voice * envelope).astype(np.float32)


def _randomised(config=TINY, seed: int = 0) -> ErbNet:
    """A network whose output layers are no longer the identity, so it does something."""
    torch.manual_seed(seed)
    model = ErbNet(config)
    with torch.no_grad():
        for layer in (model.erb.out, model.df.out):
            layer.weight.normal_(std=0.3)
    return model.eval()


def test_erb_bands_cover_every_bin_once_and_are_wide_enough():
    edges = erb_band_edges(257, RATE, 32)
    assert edges[0] == 0 and edges[-1] == 257 and len(edges) == 33
    assert min(np.diff(edges)) >= 2
    pool, expand = erb_matrices(257, RATE, 32)
    assert torch.allclose(expand.sum(0), torch.ones(257))  # every bin in exactly one band
    assert torch.allclose(pool.sum(0), torch.ones(32))  # pooling is a mean over the band
    # ERB spacing: low bands are narrow, high bands wide
    assert edges[1] - edges[0] < edges[-1] - edges[-2]


def test_untrained_network_is_near_the_identity():
    x = torch.from_numpy(_speech_like(1.0))[None, None]
    with torch.no_grad():
        y = ErbNet(TINY)(x)[1]
    error_db = 10 * torch.log10(((y - x) ** 2).sum() / (x**2).sum())
    assert y.shape == x.shape and error_db < -20


def test_deep_filter_applies_taps_to_the_frames_they_name():
    """A filter with only tap k = lookahead + 1 set to 1 returns the previous frame."""
    model = ErbNet(TINY)
    n = TINY.network
    spec = torch.randn(1, n.n_fft // 2 + 1, 6, dtype=torch.complex64)
    coefs = torch.zeros(1, 2 * n.df_order, 6, n.df_bins)
    coefs[:, 2 * (n.df_lookahead + 1)] = 1.0  # real part of the tap one frame back
    out = model.deep_filter(spec, coefs)
    assert torch.allclose(out[..., 1:], spec[:, : n.df_bins, :-1])
    assert torch.allclose(out[..., 0], torch.zeros_like(out[..., 0]))
    coefs.zero_()
    coefs[:, 2 * n.df_lookahead + 1] = 1.0  # imaginary part of the current tap: × j
    assert torch.allclose(model.deep_filter(spec, coefs), 1j * spec[:, : n.df_bins])


def test_deep_filter_on_masked_sees_the_gains_and_the_raw_one_does_not():
    """df_on_masked: ERB gains of zero silence the low band too (the filter works on the gained
    spectrum); without it the low band passes through the filter whatever the gains."""
    from dataclasses import replace

    x = torch.from_numpy(_speech_like(1.0))[None, None]
    low = torch.arange(TINY.network.n_fft // 2 + 1) < TINY.network.df_bins
    for on_masked, expect_low_energy in ((False, True), (True, False)):
        config = replace(TINY, network=replace(TINY.network, df_on_masked=on_masked))
        model = ErbNet(config).eval()
        with torch.no_grad():
            model.erb.out.bias.fill_(-30.0)  # gains ≈ 0 everywhere
            spec = model.stft(model(x)[1])
        ratio_db = 10 * torch.log10(spec[:, low].abs().pow(2).sum()
                                    / model.stft(x)[:, low].abs().pow(2).sum())
        assert (ratio_db > -1.0) if expect_low_energy else (ratio_db < -60.0), ratio_db
        # above the filtered band only what leaks across its edge: −30 dB of the input
        assert spec[:, ~low].abs().pow(2).sum() < 1e-3 * model.stft(x).abs().pow(2).sum()


def test_chunked_inference_equals_the_whole_file():
    model = _randomised()
    x = _speech_like(7.0) + 0.01 * np.random.default_rng(1).standard_normal(7 * RATE).astype(
        np.float32)
    with torch.no_grad():
        whole = model(torch.from_numpy(x)[None, None])[1][0, 0].numpy()
    chunked = enhance(model, x, RATE, chunk_s=2.0, crossfade_s=0.05, batch_size=2)
    assert chunked.shape == x.shape
    difference_db = 10 * np.log10(np.sum((chunked - whole) ** 2) / np.sum(whole**2))
    assert difference_db < -40, difference_db
    assert not np.allclose(whole, x, atol=1e-3)  # the network did change the signal


def test_output_length_matches_any_input_length():
    model = _randomised()
    for n in (1, 63, 64, 1000, 16001):
        x = 0.1 * np.random.default_rng(n).standard_normal(n).astype(np.float32)
        assert enhance(model, x, RATE).shape == (n,)


def test_checkpoint_round_trip_and_family_check(tmp_path):
    model = _randomised()
    path = tmp_path / "erb.pt"
    save_checkpoint(path, TINY, model.state_dict(), step=4, metrics={"val/si_sdr_db": 1.0})
    bundle = load_checkpoint(path, family="erbnet")  # weights_only=True inside
    assert bundle["model"] == "erbnet" and bundle["step"] == 4
    rebuilt = build_enhancer(bundle)
    assert isinstance(rebuilt, ErbNet) and rebuilt.config == TINY
    x = torch.from_numpy(_speech_like(0.5))[None, None]
    with torch.no_grad():
        assert torch.equal(rebuilt(x)[1], model(x)[1])
    with pytest.raises(CheckpointError):
        load_checkpoint(path, family="hifigan")


def test_compressed_spectral_loss_is_zero_at_the_target_and_sees_phase():
    clean = torch.from_numpy(_speech_like(0.5))[None, None]
    assert float(losses.compressed_spectral_loss(clean, clean, (128, 256))) < 1e-10
    flipped = -clean  # same magnitudes, opposite phase: only the complex term sees it
    assert float(losses.compressed_spectral_loss(flipped, clean, (128, 256))) > 1e-3
    noisy = clean + 0.05 * torch.randn_like(clean)
    assert float(losses.si_sdr_loss(noisy, clean)) > float(losses.si_sdr_loss(clean, clean))


def test_si_sdr_loss_is_capped_so_a_near_perfect_example_does_not_rule_the_batch():
    """At the target the loss is −30 dB, not −80; a 60 dB example pulls no harder than a 5 dB
    one (uncapped: hundreds of times harder, and after clipping it set the batch's direction)."""
    clean = torch.from_numpy(_speech_like(0.5))[None, None]
    assert float(losses.si_sdr_loss(clean, clean)) == pytest.approx(-30.0, abs=0.01)
    noise = torch.randn_like(clean) * clean.std()
    grads = []
    for snr_db in (60.0, 5.0):
        estimate = (clean + noise * 10 ** (-snr_db / 20)).requires_grad_(True)
        losses.si_sdr_loss(estimate, clean).backward()
        grads.append(float(estimate.grad.norm()))
    assert grads[0] < grads[1], grads
    uncapped = (clean + noise * 1e-3).requires_grad_(True)
    losses.si_sdr_loss(uncapped, clean, max_db=200.0).backward()
    assert float(uncapped.grad.norm()) > 100 * grads[1]  # what the cap removes


def test_training_steps_lower_the_loss_and_the_gan_phase_runs():
    torch.manual_seed(0)
    ctx, model, discriminators = train.build_context(TINY, torch.device("cpu"), False)
    clean = torch.from_numpy(np.stack([_speech_like(0.5, s) for s in (0, 1)]))[:, None]
    noisy = clean + 0.02 * torch.randn_like(clean)
    spectral, gan = TINY.train.phases
    train.set_phase_learning_rates(ctx, 0)
    first = reconstruction_step(ctx, spectral, noisy, clean)["loss/reconstruction"]
    for _ in range(30):
        last = reconstruction_step(ctx, spectral, noisy, clean)["loss/reconstruction"]
    assert last < first
    train.set_phase_learning_rates(ctx, 1)
    before = [p.detach().clone() for p in discriminators.parameters()]
    scalars = gan_step(ctx, gan, noisy, clean)
    assert set(scalars) >= {"loss/discriminator", "loss/adversarial", "loss/feature_matching"}
    assert any(not torch.equal(b, p) for b, p in zip(before, discriminators.parameters(),
                                                     strict=True))


def test_learning_rate_decays_along_a_cosine_to_the_final_fraction():
    from dataclasses import replace

    phase = replace(TINY.train.phases[0], lr_final_fraction=0.1)
    config = replace(TINY, train=replace(TINY.train, phases=(phase, TINY.train.phases[1])))
    ctx = train.build_context(config, torch.device("cpu"), False)[0]
    rates = []
    for progress in (0.0, 0.5, 1.0):
        train.set_phase_learning_rates(ctx, 0, progress)
        rates.append(ctx.optimizer_generator.param_groups[0]["lr"])
    assert rates == pytest.approx([1e-3, 0.55e-3, 1e-4])


def _fabricated_data(root: Path) -> None:
    (root / "clean").mkdir(parents=True, exist_ok=True)
    for i in range(1, 13):
        sf.write(root / "clean" / f"cmu_arctic_us_aew_a{i:04d}.wav", _speech_like(2.0, i), RATE)


@pytest.mark.slow
def test_cli_trains_erbnet_resumes_and_exports(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    _fabricated_data(data)
    args = ["--family", "erbnet", "--config", "tiny", "--data-dir", str(data), "--run-dir",
            str(run), "--validate-every", "2", "--log-every", "1", "--simulated-rirs", "1"]
    train.main([*args, "--steps", "2"])
    assert load_checkpoint(run / "last.pt", family="erbnet")["step"] == 2
    train.main([*args, "--steps", "4"])  # resumes into the GAN phase
    last = load_checkpoint(run / "last.pt", family="erbnet")
    assert last["step"] == 4 and "discriminators" in last
    assert (run / "best.pt").exists() and (run / "log.jsonl").exists()
    export_for_serving(run / "last.pt", tmp_path / "serve.pt")
    served = load_checkpoint(tmp_path / "serve.pt", family="erbnet")
    assert "optimizers" not in served and build_enhancer(served).config == TINY


def test_generator_gradient_norm_is_clipped_to_the_config():
    from dataclasses import replace

    config = replace(TINY, train=replace(TINY.train, grad_clip_norm=1e-3))
    ctx, model, _ = train.build_context(config, torch.device("cpu"), False)
    clean = torch.from_numpy(np.stack([_speech_like(0.5, s) for s in (0, 1)]))[:, None]
    seen: list[float] = []
    step = ctx.optimizer_generator.step

    def record(*a, **k):
        grads = [p.grad.norm() for p in model.parameters() if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack(grads))))
        return step(*a, **k)

    ctx.optimizer_generator.step = record  # type: ignore[method-assign]
    reconstruction_step(ctx, config.train.phases[0], clean + 0.1 * torch.randn_like(clean), clean)
    assert seen and seen[0] <= 1e-3 * 1.001


def test_a_non_finite_batch_is_skipped_and_leaves_the_weights_finite():
    """One NaN in a batch made every ErbNet weight NaN for good (step 23,630); now that step is
    skipped and reported, and the next finite batch trains as before."""
    ctx, model, _ = train.build_context(TINY, torch.device("cpu"), False)
    clean = torch.from_numpy(np.stack([_speech_like(0.5, s) for s in (0, 1)]))[:, None]
    noisy = clean + 0.1 * torch.randn_like(clean)
    before = [p.detach().clone() for p in model.parameters()]
    broken = clean.clone()
    broken[0, 0, 100] = float("nan")
    phase = TINY.train.phases[0]
    assert reconstruction_step(ctx, phase, noisy, broken) == {"skipped_steps": 1.0}
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    scalars = reconstruction_step(ctx, phase, noisy, clean)
    assert scalars["skipped_steps"] == 0.0 and np.isfinite(scalars["loss/reconstruction"])
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_validation_scores_what_the_engine_serves():
    """Training validation enhances through the served path (chunks with context), so the
    checkpoint it picks is judged on what users get."""
    from services.enhancer.validation import si_sdr_db, validate

    model = _randomised(seed=3)
    rng = np.random.default_rng(4)
    pairs = []
    for seed in range(2):
        clean = _speech_like(3.0, seed)
        pairs.append(((clean + 0.01 * rng.standard_normal(len(clean))).astype(np.float32), clean))
    model.train()
    metrics = validate(model, pairs, RATE)
    assert model.training  # left as it was found
    served = [si_sdr_db(enhance(model.eval(), noisy, RATE), clean) for noisy, clean in pairs]
    assert metrics["val/si_sdr_db"] == pytest.approx(np.mean(served), abs=1e-4)
    inputs = [si_sdr_db(noisy, clean) for noisy, clean in pairs]
    assert metrics["val/input_si_sdr_db"] == pytest.approx(np.mean(inputs), abs=1e-6)
    # A clean clip counts at the cap, not at its 100+ dB, so it cannot swamp the mean.
    clean = _speech_like(3.0, 5)
    capped = validate(model, [*pairs, (clean, clean)], RATE)
    assert capped["val/input_si_sdr_db"] == pytest.approx((sum(inputs) + 40.0) / 3, abs=1e-4)
