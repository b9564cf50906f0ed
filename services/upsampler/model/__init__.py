"""The audio super-resolution U-Net (Kuleshov, Enam & Ermon 2017) in Keras 3 / TensorFlow."""

from services.upsampler.model.config import CONFIGS, UNetConfig
from services.upsampler.model.film import FiLM
from services.upsampler.model.subpixel import SubPixel1D
from services.upsampler.model.unet import build_unet, cost_per_audio_second

__all__ = ["CONFIGS", "FiLM", "SubPixel1D", "UNetConfig", "build_unet", "cost_per_audio_second"]
