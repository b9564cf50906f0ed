"""Feature-wise linear modulation (FiLM, Perez et al. 2018): how the U-Net hears the cutoff."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="speakup")
class FiLM(keras.layers.Layer):
    """[x [B, T, C], conditioning [B, E]] → x · (1 + γ) + β, with [γ, β] = conditioning · W + b.

    W and b start at zero, so a new FiLM layer is the identity: a conditioned network built
    from an unconditioned checkpoint's weights starts out computing exactly what it computed.
    """

    def build(self, input_shape):
        x_shape, cond_shape = input_shape
        channels, units = int(x_shape[-1]), int(cond_shape[-1])
        self.kernel = self.add_weight(
            name="kernel", shape=(units, 2 * channels), initializer="zeros"
        )
        self.bias = self.add_weight(name="bias", shape=(2 * channels,), initializer="zeros")

    def call(self, inputs):
        x, conditioning = inputs
        params = ops.matmul(conditioning, self.kernel) + self.bias
        gamma, beta = ops.split(params, 2, axis=-1)
        return x * (1.0 + gamma[:, None, :]) + beta[:, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape[0]
