"""The 1-D U-Net of Kuleshov, Enam & Ermon (2017, arXiv 1708.00853), sizes from `UNetConfig`.

Input: the 16 kHz signal interpolated to 48 kHz with soxr (exactly the `resample` engine's
output), [B, T, 1], T a multiple of `config.length_multiple`. Output: input + predicted residual.
We interpolate outside the network, as the paper does (it used cubic splines): the skip from
input to output then starts the network at the `resample` baseline, and the last conv is
zero-initialised so an untrained model *is* `resample` — training can only add what it learns.

With `config.cutoff_conditioning` a second input, the input's measured cutoff in Hz [B, 1],
is embedded (two small dense layers on cutoff / Nyquist) and modulates every down, bottleneck
and up block through FiLM: the network is told where the input's band ends instead of guessing
it from ≈ 12 ms of signal (it could not tell a flat soxr passband from a Butterworth roll-off).
The FiLM layers start as the identity, so the layers shared with an unconditioned checkpoint
can take its weights and start from what it computed (`train.start_from`).
"""

from __future__ import annotations

import keras
from keras import layers

from services.upsampler.model.config import UNetConfig
from services.upsampler.model.film import FiLM
from services.upsampler.model.subpixel import SubPixel1D


def build_unet(config: UNetConfig, name: str = "audio_unet") -> keras.Model:
    """A functional Keras model: [B, T, 1] → [B, T, 1] (T any multiple of length_multiple);
    conditioned: [[B, T, 1], cutoff_hz [B, 1]] → [B, T, 1]."""
    inputs = keras.Input(shape=(None, 1), name="interpolated_audio")
    model_inputs: list = [inputs]
    embedding = None
    if config.cutoff_conditioning:
        cutoff = keras.Input(shape=(1,), name="cutoff_hz")
        model_inputs.append(cutoff)
        embedding = layers.Rescaling(2.0 / config.sample_rate_hz, name="cutoff_norm")(cutoff)
        for i in range(2):
            embedding = layers.Dense(
                config.condition_units, activation="tanh", name=f"cond_embed{i}"
            )(embedding)

    def film(x, label: str):
        return x if embedding is None else FiLM(name=f"{label}_film")([x, embedding])

    x = inputs
    skips = []
    for level, (n_filters, kernel) in enumerate(
        zip(config.filters, config.kernel_sizes, strict=True)
    ):
        x = layers.Conv1D(n_filters, kernel, strides=2, padding="same", name=f"down{level}_conv")(x)
        x = layers.LeakyReLU(config.leaky_slope, name=f"down{level}_act")(x)
        x = film(x, f"down{level}")
        skips.append(x)

    x = layers.Conv1D(
        config.bottleneck_filters,
        config.bottleneck_kernel_size,
        strides=2,
        padding="same",
        name="bottleneck_conv",
    )(x)
    x = layers.Dropout(config.dropout, name="bottleneck_dropout")(x)
    x = layers.LeakyReLU(config.leaky_slope, name="bottleneck_act")(x)
    x = film(x, "bottleneck")

    for level in reversed(range(len(config.filters))):
        n_filters, kernel = config.filters[level], config.kernel_sizes[level]
        # 2× channels, then sub-pixel back to n_filters at twice the length.
        x = layers.Conv1D(2 * n_filters, kernel, padding="same", name=f"up{level}_conv")(x)
        x = layers.Dropout(config.dropout, name=f"up{level}_dropout")(x)
        x = layers.ReLU(name=f"up{level}_act")(x)
        x = film(x, f"up{level}")
        x = SubPixel1D(2, name=f"up{level}_subpixel")(x)
        x = layers.Concatenate(name=f"up{level}_skip")([x, skips[level]])

    x = layers.Conv1D(
        2,
        config.output_kernel_size,
        padding="same",
        kernel_initializer="zeros",
        name="output_conv",
    )(x)
    residual = SubPixel1D(2, name="output_subpixel")(x)
    outputs = layers.Add(name="add_interpolated")([inputs, residual])
    return keras.Model(model_inputs if embedding is not None else inputs, outputs, name=name)


def cost_per_audio_second(config: UNetConfig) -> dict[str, float]:
    """Parameters (all) and multiply-accumulates per second of 48 kHz output (convs only: the
    FiLM scale-and-shift is 2 operations per activation, the cutoff embedding runs once)."""
    rate = float(config.sample_rate_hz)
    macs = 0.0
    params = 0
    in_channels = 1
    length_rate = rate
    for n_filters, kernel in zip(config.filters, config.kernel_sizes, strict=True):
        length_rate /= 2
        macs += length_rate * n_filters * kernel * in_channels
        params += n_filters * (kernel * in_channels + 1)
        in_channels = n_filters
    length_rate /= 2
    bottleneck = config.bottleneck_filters
    macs += length_rate * bottleneck * config.bottleneck_kernel_size * in_channels
    params += bottleneck * (config.bottleneck_kernel_size * in_channels + 1)
    in_channels = bottleneck
    for level in reversed(range(len(config.filters))):
        n_filters, kernel = config.filters[level], config.kernel_sizes[level]
        macs += length_rate * 2 * n_filters * kernel * in_channels
        params += 2 * n_filters * (kernel * in_channels + 1)
        length_rate *= 2
        in_channels = 2 * n_filters  # sub-pixel output + skip
    macs += length_rate * 2 * config.output_kernel_size * in_channels
    params += 2 * (config.output_kernel_size * in_channels + 1)
    if config.cutoff_conditioning:
        units = config.condition_units
        params += 2 * units + units * (units + 1)  # the two embedding layers
        film_channels = [
            *config.filters, config.bottleneck_filters, *(2 * f for f in config.filters)
        ]
        params += sum(2 * c * (units + 1) for c in film_channels)
    return {"params": float(params), "gflop_per_audio_s": 2 * macs / 1e9}
