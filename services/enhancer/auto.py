"""What "auto" means for the enhancer: the best engine installed, judged by model cards."""

from __future__ import annotations


def auto_engine_name(available: list[str]) -> str:
    if "hifigan" in available:
        try:
            from services.enhancer.hifigan_engine import beats_dsp
        except ImportError:
            beats_dsp = None
        if beats_dsp is not None and beats_dsp():
            return "hifigan"
    for name in ("dsp", "passthrough"):
        if name in available:
            return name
    raise LookupError("no enhancement engine installed")
