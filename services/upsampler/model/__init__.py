"""The audio super-resolution U-Net (Kuleshov, Enam & Ermon 2017) in Keras 3 / TensorFlow.

The sizes (`UNetConfig`, `CONFIGS`) import without Keras, so a serving process that only reads
a model card never loads TensorFlow; the layers and the builder load on first use."""

from importlib import import_module
from typing import Any

from services.upsampler.model.config import CONFIGS, UNetConfig

_KERAS_PARTS = {"FiLM": "film", "SubPixel1D": "subpixel", "build_unet": "unet",
                "cost_per_audio_second": "unet"}

__all__ = ["CONFIGS", "UNetConfig", *_KERAS_PARTS]


def __getattr__(name: str) -> Any:
    if name in _KERAS_PARTS:
        return getattr(import_module(f"{__name__}.{_KERAS_PARTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
