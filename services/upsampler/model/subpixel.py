"""1-D sub-pixel (pixel-shuffle) upsampling, as in Kuleshov et al. 2017 (after Shi et al. 2016)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="speakup")
class SubPixel1D(keras.layers.Layer):
    """[B, T, C·r] → [B, T·r, C]: out[b, t·r + i, c] = in[b, t, i·C + c].

    Trades channels for time, so the upsampling conv learns r interleaved phases instead of
    producing the checkerboard artefacts of a transposed conv.
    """

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, inputs):
        shape = ops.shape(inputs)
        channels = inputs.shape[-1]
        if channels is None or channels % self.factor:
            raise ValueError(f"channels ({channels}) must be a multiple of {self.factor}")
        return ops.reshape(inputs, (shape[0], shape[1] * self.factor, channels // self.factor))

    def compute_output_shape(self, input_shape):
        batch, length, channels = input_shape
        length = None if length is None else length * self.factor
        return (batch, length, channels // self.factor)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}
