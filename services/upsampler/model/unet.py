"""The 1-D U-Net of Kuleshov, Enam & Ermon (2017, arXiv 1708.00853), sizes from `UNetConfig`.

Input: the 16 kHz signal interpolated to 48 kHz with soxr (exactly the `resample` engine's
output), [B, T, 1], T a multiple of `config.length_multiple`. Output: input + predicted residual.
We interpolate outside the network, as the paper does (it used cubic splines): the skip from
input to output then starts the network at the `resample` baseline, and the last conv is
zero-initialised so an untrained model *is* `resample` — training can only add what it learns.
"""

from __future__ import annotations

import keras
from keras import layers

from services.upsampler.model.config import UNetConfig
from services.upsampler.model.subpixel import SubPixel1D


def build_unet(config: UNetConfig, name: str = "audio_unet") -> keras.Model:
    """A functional Keras model: [B, T, 1] → [B, T, 1] (T any multiple of length_multiple)."""
    inputs = keras.Input(shape=(None, 1), name="interpolated_audio")
    x = inputs
    skips = []
    for level, (n_filters, kernel) in enumerate(
        zip(config.filters, config.kernel_sizes, strict=True)
    ):
        x = layers.Conv1D(n_filters, kernel, strides=2, padding="same", name=f"down{level}_conv")(x)
        x = layers.LeakyReLU(config.leaky_slope, name=f"down{level}_act")(x)
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

    for level in reversed(range(len(config.filters))):
        n_filters, kernel = config.filters[level], config.kernel_sizes[level]
        # 2× channels, then sub-pixel back to n_filters at twice the length.
        x = layers.Conv1D(2 * n_filters, kernel, padding="same", name=f"up{level}_conv")(x)
        x = layers.Dropout(config.dropout, name=f"up{level}_dropout")(x)
        x = layers.ReLU(name=f"up{level}_act")(x)
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
    return keras.Model(inputs, outputs, name=name)


def cost_per_audio_second(config: UNetConfig) -> dict[str, float]:
    """Parameters and multiply-accumulates per second of 48 kHz output (convs only)."""
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
    return {"params": float(params), "gflop_per_audio_s": 2 * macs / 1e9}
