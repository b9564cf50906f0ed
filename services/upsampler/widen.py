"""From the enhancer's results to one 48 kHz signal: super-resolution only where the input had
no sound of its own.

- no full-band intermediate (the input held nothing above the crossover: a 16 kHz or narrower
  recording): the upsampling engine rebuilds everything above 8 kHz from the 16 kHz enhanced
  signal, as it always did;
- a full-band intermediate whose sound reaches `FULL_BAND_HZ` (20 kHz): it is the result, no
  engine runs;
- otherwise the engine's 48 kHz output is kept only above the input's cutoff, cross-faded at the
  seam (`shared.audio.bandsplit.join_above_file`) — except that `auto` fills a gap that starts
  at 16 kHz or higher, at a 44.1/48 kHz input's own rate, by replicating the octave under the
  seam (`services.upsampler.replicate`: as close to the clean voice as the U-Net there, at a
  fraction of its cost).

The seam is the input's cutoff unless the full-band intermediate itself reaches less high (the
enhancer's gains took a weak top octave below the bandwidth meter's floor: 6 of 136 held-out
phone-like files lost 0.5-2.4 kHz that way): then it is where the kept band now ends, so the
result is never narrower than the input — even above 20 kHz.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from services.upsampler import engines, replicate
from shared.audio.bandsplit import FULL_BAND_HZ, join_above_file
from shared.audio.bandwidth import RESOLUTION_HZ, wav_bandwidth_hz
from shared.audio.blocks import process_file

ENGINE_RATE_HZ = 48_000
ENHANCED_TOP_HZ = 8_000.0  # the 16 kHz enhanced signal's Nyquist


@dataclass(frozen=True)
class Widened:
    path: Path  # mono WAV: 48 kHz, or the full-band intermediate's own rate (none, replicate)
    engine: str  # "none" where no super-resolution was needed
    version: str


def needs_super_resolution(fullband: Path | None, cutoff_hz: float | None) -> bool:
    return fullband is None or cutoff_hz is None or cutoff_hz < FULL_BAND_HZ


def widen(enhanced_16k: Path, fullband: Path | None, cutoff_hz: float | None, upsampler: str,
          tmp: Path, *, block_s: float = 30.0, progress: Callable[[float], None] | None = None,
          check: Callable[[], None] | None = None) -> Widened:
    """``enhanced_16k``: the enhancer's output; ``fullband``: the same at the input's own rate
    with its own band kept (None where the input had none); ``cutoff_hz``: the input's measured
    bandwidth. Raises `LookupError` for an unknown upsampler."""
    seam = seam_hz(fullband, cutoff_hz)
    taken = seam is not None and cutoff_hz is not None and seam < cutoff_hz
    if not taken and not needs_super_resolution(fullband, cutoff_hz):
        assert fullband is not None
        return Widened(fullband, "none", "-")
    cutoff_hz = seam
    # replication where the input's own band ends, not where the enhancer's gains took its top:
    # copied from an octave those gains had thinned, the fill fell under the bandwidth meter's
    # floor (held-out, DeepFilterNet3 chain: 10 of 136 outputs narrower than their input)
    if upsampler == "auto" and fullband is not None and seam is not None and not taken:
        rate_hz = sf.info(str(fullband)).samplerate
        if replicate.wanted(rate_hz, seam):
            return _replicated(fullband, rate_hz, seam, tmp, block_s, progress, check)
    engine = engines.get(upsampler)
    rate = sf.info(str(enhanced_16k)).samplerate
    run = _upsample_fn(engine, rate, min(cutoff_hz or ENHANCED_TOP_HZ, ENHANCED_TOP_HZ))
    super_resolved = tmp / "super_resolved.wav"
    process_file(enhanced_16k, super_resolved, run, ratio=ENGINE_RATE_HZ // rate,
                 block_s=block_s, overlap_s=0.25, context_s=0.5, progress=progress, check=check)
    if fullband is None or cutoff_hz is None:
        return Widened(super_resolved, engine.name, engine.version)
    joined = tmp / "joined.wav"
    join_above_file(fullband, super_resolved, cutoff_hz, joined, block_s=block_s, check=check)
    super_resolved.unlink()
    return Widened(joined, engine.name, engine.version)


def _replicated(fullband: Path, rate_hz: int, seam: float, tmp: Path, block_s: float,
                progress: Callable[[float], None] | None,
                check: Callable[[], None] | None) -> Widened:
    """The full-band intermediate with the band above ``seam`` replicated, at its own rate."""
    replica, joined = tmp / "replicated.wav", tmp / "joined.wav"
    process_file(fullband, replica, lambda x: replicate.replicate_above(x, rate_hz, seam),
                 block_s=block_s, overlap_s=0.1, context_s=0.1, progress=progress, check=check)
    join_above_file(fullband, replica, seam, joined, block_s=block_s, check=check)
    replica.unlink()
    return Widened(joined, "replicate", replicate.VERSION)


def seam_hz(fullband: Path | None, cutoff_hz: float | None) -> float | None:
    """Where super-resolution takes over: the input's cutoff, or lower where the full-band
    intermediate's own band ends more than the meter's resolution below it."""
    if fullband is None or cutoff_hz is None:
        return cutoff_hz
    kept_hz = wav_bandwidth_hz(fullband)
    if kept_hz is not None and kept_hz < cutoff_hz - RESOLUTION_HZ:
        return kept_hz
    return cutoff_hz


def _upsample_fn(engine: engines.UpsampleEngine, rate_hz: int,
                 cutoff_hz: float) -> Callable[[np.ndarray], np.ndarray]:
    """``engine.upsample`` to 48 kHz, told the 16 kHz signal's own cutoff where it takes one
    (an engine conditioned on the cutoff fills from there: a 4 kHz phone band, say)."""
    try:
        takes_cutoff = "cutoff_hz" in inspect.signature(engine.upsample).parameters
    except (TypeError, ValueError):
        takes_cutoff = False
    if takes_cutoff:
        return lambda x: engine.upsample(x, rate_hz, ENGINE_RATE_HZ,  # type: ignore[call-arg]
                                         cutoff_hz=cutoff_hz)
    return lambda x: engine.upsample(x, rate_hz, ENGINE_RATE_HZ)
