"""The classic chain, composed: cleanup filters → WPE dereverberation → noise suppression → EQ.

WPE runs before the noise suppressor because it is a linear predictor: it needs the
observation's linear structure, which a non-linear gain would break. Both share one STFT.

`strength` (0..1) scales every step together: the noise suppressor's floor, the share of the
WPE prediction removed, the EQ correction. 0 returns the input unchanged.

`process` works on a whole signal; `process_blocks` cuts long signals into overlapping blocks
(memory stays flat: WPE's correlation buffers grow with the signal) and cross-fades them. The
enhancer stage already streams files in blocks, so the engine mostly sees ~30 s at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from services.enhancer.dsp.dereverb import DereverbConfig, dereverb, wpe_spec
from services.enhancer.dsp.eq import EqConfig, equalize
from services.enhancer.dsp.filters import HumConfig, detect_hum, highpass, remove_hum
from services.enhancer.dsp.noise import NoiseSuppressionConfig, suppress_noise_spec
from shared.audio.stft import StftConfig, istft, stft


@dataclass(frozen=True)
class DspOptions:
    highpass_hz: float | None = 75.0  # None: no high-pass
    hum: HumConfig | None = field(default_factory=HumConfig)  # None: never remove hum
    dereverb: DereverbConfig | None = field(default_factory=DereverbConfig)
    noise: NoiseSuppressionConfig | None = field(default_factory=NoiseSuppressionConfig)
    eq: EqConfig | None = field(default_factory=EqConfig)
    stft: StftConfig = field(default_factory=StftConfig)
    max_block_s: float = 30.0  # process_blocks: longer signals are cut into blocks this long
    block_overlap_s: float = 1.0


def process(
    audio: np.ndarray,
    sample_rate_hz: int,
    strength: float = 1.0,
    options: DspOptions = DspOptions(),
) -> np.ndarray:
    """audio: [T] float mono → [T] float32 mono, same rate and length."""
    x = np.nan_to_num(np.asarray(audio, dtype=np.float32).reshape(-1))
    strength = float(np.clip(strength, 0.0, 1.0))
    if strength == 0.0 or len(x) == 0 or not np.any(x):
        return x.copy()
    x = x - np.mean(x)
    if options.highpass_hz is not None and len(x) > 64:
        x = highpass(x, sample_rate_hz, options.highpass_hz)
    if options.hum is not None:
        hum = detect_hum(x, sample_rate_hz, options.hum)
        if hum is not None:
            x = remove_hum(x, sample_rate_hz, hum, options.hum.notch_bandwidth_hz)
    shared_wpe = options.dereverb is not None and options.dereverb.stft is None
    if options.dereverb is not None and not shared_wpe:
        x = dereverb(x, sample_rate_hz, strength, options.dereverb)
    if shared_wpe or options.noise is not None:
        spec = stft(x, sample_rate_hz, options.stft)
        hop_s = options.stft.hop(sample_rate_hz) / sample_rate_hz
        if shared_wpe:
            spec = wpe_spec(spec, hop_s, sample_rate_hz, strength, options.dereverb)
        if options.noise is not None:
            spec = suppress_noise_spec(spec, hop_s, strength, options.noise)
        x = istft(spec, sample_rate_hz, len(x), options.stft)
    if options.eq is not None:
        x = equalize(x, sample_rate_hz, strength, options.eq)
    return x.astype(np.float32)


def process_blocks(
    audio: np.ndarray,
    sample_rate_hz: int,
    strength: float = 1.0,
    options: DspOptions = DspOptions(),
) -> np.ndarray:
    """`process` for signals of any length: blocks of `max_block_s` overlapping by
    `block_overlap_s`, cross-faded with raised-cosine weights that sum to one."""
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    block = int(options.max_block_s * sample_rate_hz)
    overlap = min(int(options.block_overlap_s * sample_rate_hz), block // 4)
    if len(x) <= block:
        return process(x, sample_rate_hz, strength, options)
    out = np.zeros(len(x), dtype=np.float32)
    t = (np.arange(overlap) + 0.5) / overlap
    fade_in = (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)
    hop = block - overlap
    for start in range(0, len(x) - overlap, hop):
        stop = min(len(x), start + block)
        y = process(x[start:stop], sample_rate_hz, strength, options)
        if start > 0:
            y[:overlap] *= fade_in
        if stop < len(x):
            y[-overlap:] *= fade_in[::-1]
        out[start:stop] += y
    return out
