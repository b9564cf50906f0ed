"""Self-describing enhancer checkpoints, written atomically and read with weights_only=True.

One format for every model family: a bundle holds `format_version`, `model` (the family:
"hifigan", "erbnet"), the config as plain data, and state dicts; `build_enhancer` rebuilds the
network from the bundle's own config, never a global one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from services.enhancer import families
from services.enhancer.model.config import config_to_dict

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """Not an enhancer checkpoint this code can read."""


def save_checkpoint(path: str | Path, config: Any, enhancer: dict[str, torch.Tensor],
                    step: int, **extra: Any) -> None:
    """Write atomically: a crash mid-write leaves the previous file intact.

    extra: e.g. discriminators=..., optimizers={...}, metrics={...} (plain data and tensors).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bundle = {"format_version": FORMAT_VERSION, "model": getattr(config, "family", "hifigan"),
              "config": config_to_dict(config), "step": int(step), "enhancer": enhancer, **extra}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(bundle, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; workers may run as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    family: str | None = None) -> dict[str, Any]:
    """The bundle at `path`; `family` (e.g. "erbnet") refuses other families' checkpoints."""
    bundle = torch.load(path, map_location=map_location, weights_only=True)
    wanted = (family,) if family else families.NAMES
    if not isinstance(bundle, dict) or bundle.get("model") not in wanted:
        raise CheckpointError(f"{path} is not a {' or '.join(wanted)} checkpoint")
    if bundle.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version {bundle.get('format_version')} "
                              f"(this code reads {FORMAT_VERSION})")
    return bundle


def bundle_config(bundle: dict[str, Any]) -> Any:
    """The bundle's own config, bound by its family's dataclasses."""
    return families.get(bundle.get("model", "hifigan")).config_from_dict(bundle["config"])


def build_enhancer(bundle: dict[str, Any]) -> nn.Module:
    """The network with the checkpoint's own config and weights, in eval mode."""
    family = families.get(bundle.get("model", "hifigan"))
    model = family.build(family.config_from_dict(bundle["config"]))
    model.load_state_dict(bundle["enhancer"])
    return model.eval()


def load_enhancer(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    return build_enhancer(load_checkpoint(path, map_location))


def export_for_serving(source: str | Path, destination: str | Path) -> dict[str, Any]:
    """Keep what inference needs (config, generator + Postnet weights, step, metrics): drops
    discriminators and optimizer state, which are most of a training checkpoint's size."""
    bundle = load_checkpoint(source)
    keep = {k: bundle[k] for k in ("metrics", "train_wall_s") if k in bundle}
    save_checkpoint(destination, bundle_config(bundle), bundle["enhancer"],
                    bundle["step"], **keep)
    return bundle


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Export a training checkpoint for serving.")
    parser.add_argument("source", type=Path)
    parser.add_argument("destination", type=Path)
    args = parser.parse_args()
    exported = export_for_serving(args.source, args.destination)
    print(f"{args.destination}: step {exported['step']}, "
          f"{args.destination.stat().st_size / 1e6:.2f} MB")
