"""The upsampler service (TensorFlow). Every import of TensorFlow here goes through this package,
so its start-up chatter is silenced here, before TensorFlow loads (`tf_quiet`; errors still show,
and `TF_CPP_MIN_LOG_LEVEL=0` brings everything back)."""

from services.upsampler.tf_quiet import install as _quiet_tensorflow

_quiet_tensorflow()
