"""The enhancer's model families: one name → how to read its config and build its network.

The train loop, the checkpoint format and validation are shared; a family only says how its
config binds and what network it builds. Every network takes noisy [B, 1, T] and returns a pair
(intermediate, final) of [B, 1, T] estimates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn


@dataclass(frozen=True)
class Family:
    name: str
    load_config: Callable[[str | Path], Any]
    config_from_dict: Callable[[dict[str, Any]], Any]
    build: Callable[[Any], nn.Module]


def _hifigan() -> Family:
    from services.enhancer.model import config
    from services.enhancer.model.enhancer import Enhancer

    return Family("hifigan", config.load_config, config.config_from_dict, Enhancer)


def _erbnet() -> Family:
    from services.enhancer.erbnet import config
    from services.enhancer.erbnet.model import ErbNet

    return Family("erbnet", config.load_config, config.config_from_dict, ErbNet)


_FAMILIES: dict[str, Callable[[], Family]] = {"hifigan": _hifigan, "erbnet": _erbnet}
NAMES = tuple(_FAMILIES)


def get(name: str) -> Family:
    if name not in _FAMILIES:
        raise ValueError(f"unknown model family {name!r}; have {NAMES}")
    return _FAMILIES[name]()
