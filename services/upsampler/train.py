"""Train the U-Net: `python -m services.upsampler.train --config small --data-dir ../shared/data
--run-dir runs/unet_small --steps 20000`.

Resumable: `<run-dir>/latest.keras` holds model and optimizer state, `state.json` the step count
and wall time; `best.keras` is the checkpoint with the lowest validation LSD (haoheliu/ssr_eval's
definition, `sr_metrics.lsd`). TensorBoard logs in `<run-dir>/tb`. tf.distribute:
MirroredStrategy when several GPUs are visible. `--init-from` starts a new run from a shipped
checkpoint, conditioned or not (`start_from`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

# (n_fft, hop) of the multi-resolution STFT loss (Yamamoto et al. 2020's sizes, at 48 kHz)
STFT_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))
LOG_POWER_FLOOR = 1e-5  # of rms-normalised audio: ≈ 110 dB under a bin's mean power
VAL_LEVEL_RMS = 0.05  # validation crops are scored as 16-bit PCM at a speech level (−26 dBFS)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--data-dir", default=os.environ.get("SPEAKUP_DATA_DIR", "../shared/data"))
    parser.add_argument("--run-dir", default="runs/unet_small")
    parser.add_argument("--steps", type=int, default=20000, help="total steps (not additional)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop-length", type=int, default=12288, help="samples at 48 kHz")
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument(
        "--stft-weight",
        type=float,
        default=0.02,
        help="weight of the multi-resolution STFT log-magnitude L1 beside the waveform term",
    )
    parser.add_argument(
        "--transition-weight",
        type=float,
        default=1.0,
        help="weight of the top quarter of the input's band (0.75–1 × cutoff) in the waveform "
        "term: the roll-off the network may restore in phase",
    )
    parser.add_argument("--data-workers", type=int, default=2, help="parallel example makers")
    parser.add_argument("--val-examples", type=int, default=64)
    parser.add_argument("--checkpoint-every-s", type=float, default=240.0)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1, help="TF intra-op threads (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--init-from",
        default=None,
        help="a shipped unet.keras to start from when the run dir has no latest.keras: its "
        "weights (by layer name: an unconditioned one fills all but the new FiLM layers) and, "
        "from the card.json beside it, its step count; a fresh optimizer",
    )
    parser.add_argument(
        "--export-dir", default=None, help="calibrate + export a checkpoint there, then exit"
    )
    parser.add_argument("--checkpoint", default=None, help="for --export-dir (default best.keras)")
    parser.add_argument(
        "--calibration-files", type=int, default=40, help="export: validation files used"
    )
    return parser.parse_args(argv)


def is_validation_file(path: Path) -> bool:
    """≈ 10 % of the *training speakers'* files, to pick checkpoints without touching eval."""
    return hashlib.sha1(path.name.encode()).digest()[0] % 10 == 0


def log_power(audio, n_fft: int, hop: int, tf):
    """[B, T] → log10 power spectrogram [B, frames, n_fft / 2 + 1]."""
    stft = tf.signal.stft(audio, frame_length=n_fft, frame_step=hop, pad_end=True)
    return tf.math.log(tf.abs(stft) ** 2 + LOG_POWER_FLOOR) / np.log(10.0)


def stft_loss(target, estimate, tf):
    """Multi-resolution STFT log-magnitude L1 [B] (in log10 units, as LSD): the invented band's
    level and shape at several time-frequency trade-offs, phase-blind."""
    per_resolution = [
        tf.reduce_mean(
            tf.abs(log_power(target, n_fft, hop, tf) - log_power(estimate, n_fft, hop, tf)),
            axis=[1, 2],
        )
        for n_fft, hop in STFT_RESOLUTIONS
    ]
    return tf.add_n(per_resolution) / len(STFT_RESOLUTIONS)


def per_example_loss(
    target, estimate, cutoff_hz, stft_weight: float, tf, transition_weight: float = 1.0
):
    """target, estimate [B, T, 1], cutoff_hz [B] → loss [B].

    Waveform term: the error's energy in the bins below each example's cutoff (Parseval over
    its rfft), over the target's energy — ≈ 1/SNR of the band the input had, where the
    network can restore filter roll-off and aliasing *in phase*; `transition_weight` multiplies
    its top quarter (0.75–1 × cutoff), the roll-off. Above the cutoff the phase cannot be
    predicted, and waveform L2 there drives the invented band towards silence (the step-59247
    checkpoint's lesson), so that band is judged by `stft_loss` alone. Audio is normalised to
    the target's RMS first: the loss does not depend on the crop's gain.
    """
    target, estimate = target[..., 0], estimate[..., 0]
    length = tf.shape(target)[-1]
    energy = tf.reduce_sum(target**2, axis=-1) + 1e-8
    error = tf.signal.rfft(target - estimate)
    bins = tf.cast(tf.range(length // 2 + 1), tf.float32)
    freqs_hz = bins * 48000.0 / tf.cast(length, tf.float32)
    cutoff = tf.reshape(tf.cast(cutoff_hz, tf.float32), (-1, 1))
    weights = tf.where(freqs_hz[None, :] < cutoff, 1.0, 0.0)
    if transition_weight != 1.0:
        weights *= tf.where(freqs_hz[None, :] >= 0.75 * cutoff, transition_weight, 1.0)
    error_energy = 2.0 * tf.reduce_sum(tf.abs(error) ** 2 * weights, axis=-1)
    loss = error_energy / tf.cast(length, tf.float32) / energy
    if stft_weight <= 0:
        return loss
    scale = tf.sqrt(energy / tf.cast(length, tf.float32))[:, None]
    return loss + stft_weight * stft_loss(target / scale, estimate / scale, tf)


def run_model(model, x: np.ndarray, cutoff_hz: np.ndarray, training: bool = False):
    """A conditioned network gets [audio, cutoff]; an unconditioned one, audio."""
    from services.upsampler.inference import is_conditioned

    return model([x, cutoff_hz] if is_conditioned(model) else x, training=training)


def validation_metrics(model, val) -> dict[str, float]:
    """Mean LSD (full band, and above each example's cutoff) and SNR of the model and of its
    input (the resample baseline), on crops at −26 dBFS scored as 16-bit PCM."""
    from services.upsampler.sr_metrics import lsd, snr_db, to_pcm16

    val_x, val_c, val_y, measured = val
    scale = VAL_LEVEL_RMS / (np.sqrt(np.mean(val_y**2, axis=(1, 2), keepdims=True)) + 1e-8)
    val_x, val_y = val_x * scale, val_y * scale
    estimate = np.asarray(run_model(model, val_x.astype(np.float32), val_c))
    result: dict[str, float] = {}
    for name, audio in (("model", estimate), ("resample", val_x)):
        rows = [
            (lsd(y, a, 48000), lsd(y, a, 48000, low_hz=float(c)), snr_db(y, a))
            for y, a, c in zip(
                to_pcm16(val_y[..., 0]), to_pcm16(audio[..., 0]), measured, strict=True
            )
        ]
        for key, values in zip(("lsd", "lsd_above_cutoff", "snr_db"), zip(*rows, strict=True),
                               strict=True):
            result[f"{key}/{name}"] = float(np.mean(values))
    return result


def start_from(model, path: Path) -> None:
    """Weights of a shipped checkpoint by layer name — an unconditioned one fills every layer
    but the cutoff embedding and the FiLM layers, which start as the identity — and its step
    count, so `--steps` stays the total."""
    from services.upsampler.unet_engine import load_model

    shipped = load_model(path)
    names = {layer.name for layer in model.layers}
    for layer in shipped.layers:
        if layer.get_weights():
            if layer.name not in names:
                raise ValueError(f"{path}: layer {layer.name!r} is not in the {model.name} built")
            model.get_layer(layer.name).set_weights(layer.get_weights())
    card = path.with_name("card.json")
    steps = json.loads(card.read_text()).get("steps_trained", 0) if card.is_file() else 0
    model.optimizer.iterations.assign(int(steps))
    print(f"started from {path} at step {steps}")


def save_atomic(model, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(args.threads, 2))
    except RuntimeError:  # TF already running in this process (tests): keep its settings
        pass
    import keras

    from services.upsampler import data
    from services.upsampler.model import CONFIGS, build_unet, cost_per_audio_second

    if args.export_dir:
        from services.upsampler.calibrate import export

        export(args)
        return
    config = CONFIGS[args.config]
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}

    files = data.full_band_files(args.data_dir, eval_speakers=False)
    train_files = [f for f in files if not is_validation_file(f)]
    val_files = [f for f in files if is_validation_file(f)]
    train_targets = [data.read_full_band(f) for f in train_files]
    val_targets = [data.read_full_band(f) for f in val_files]
    # Tiny data sets may hold no validation file: then validate on training files.
    val = data.fixed_examples(val_targets or train_targets, args.crop_length, args.val_examples,
                              seed=12345)
    audio_min = sum(len(t) for t in train_targets) / 48000 / 60
    print(f"train files {len(train_files)} ({audio_min:.1f} min), val files {len(val_files)}")

    strategy = (
        tf.distribute.MirroredStrategy()
        if len(tf.config.list_physical_devices("GPU")) > 1
        else tf.distribute.get_strategy()
    )
    with strategy.scope():
        latest = run_dir / "latest.keras"
        if latest.exists():
            model = keras.models.load_model(latest, compile=True)
            print(f"resumed from {latest} at step {int(model.optimizer.iterations.numpy())}")
        else:
            model = build_unet(config)
            model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
            # built now, so a checkpoint saved before the first step resumes with its state
            model.optimizer.build(model.trainable_variables)
            if args.init_from:
                start_from(model, Path(args.init_from))
        optimizer = model.optimizer
        optimizer.learning_rate.assign(args.learning_rate)  # a resumed run may change it

    step = int(optimizer.iterations.numpy())
    dataset = data.crop_dataset(train_targets, args.crop_length, args.batch_size,
                                args.seed + step, workers=args.data_workers)
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    global_batch = args.batch_size

    def replica_step(inputs, target, measured_cutoff_hz):
        with tf.GradientTape() as tape:
            estimate = run_model(model, inputs[0], inputs[1], training=True)
            losses = per_example_loss(target, estimate, measured_cutoff_hz, args.stft_weight,
                                      tf, args.transition_weight)
            loss = tf.nn.compute_average_loss(losses, global_batch_size=global_batch)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_step(batch):
        per_replica = strategy.run(replica_step, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    writer = tf.summary.create_file_writer(str(run_dir / "tb"))
    best_lsd = state.get("best_lsd", float("inf"))
    wall_s = state.get("wall_s", 0.0)
    started, last_save, losses = time.monotonic(), time.monotonic(), []
    cost = cost_per_audio_second(config)

    def checkpoint() -> None:
        nonlocal best_lsd
        save_atomic(model, run_dir / "latest.keras")
        metrics = validation_metrics(model, val)
        if metrics["lsd/model"] < best_lsd:
            best_lsd = metrics["lsd/model"]
            save_atomic(model, run_dir / "best.keras")
            state["best_step"] = step
        state.update(
            step=step,
            wall_s=wall_s + time.monotonic() - started,
            best_lsd=best_lsd,
            config=args.config,
            unet_config=config.to_dict(),
            args=vars(args),
            cost=cost,
            last_val=metrics,
            train_files=[data.relative_name(f, args.data_dir) for f in train_files],
            val_files=[data.relative_name(f, args.data_dir) for f in val_files],
        )
        state_path.write_text(json.dumps(state, indent=1))
        with writer.as_default(step=step):
            for key, value in metrics.items():
                tf.summary.scalar(f"val/{key}", value)
        print(f"step {step} checkpoint {json.dumps(metrics)}", flush=True)

    while step < args.steps:
        loss = float(train_step(next(iterator)))
        step += 1
        losses.append(loss)
        if step % args.log_every == 0:
            elapsed = wall_s + time.monotonic() - started
            with writer.as_default(step=step):
                tf.summary.scalar("train/loss", np.mean(losses))
            print(f"step {step} loss {np.mean(losses):.4f} wall {elapsed:.0f}s", flush=True)
            losses = []
        if time.monotonic() - last_save >= args.checkpoint_every_s:
            checkpoint()
            last_save = time.monotonic()
    checkpoint()


if __name__ == "__main__":
    main()
