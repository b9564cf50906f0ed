"""How far up a recording's sound reaches: its effective bandwidth (cutoff) in Hz.

One definition for the whole product — the job's ``bandwidth_in_hz``/``bandwidth_out_hz``, the
chain's decision of what to keep and what super-resolution fills (`shared.audio.bandsplit`),
and the web page's "sound up to ≈ X kHz" (services/api/web/spectrogram.js, the same rule in
JavaScript): the highest frequency where the long-term power spectrum, smoothed over ~400 Hz,
stays within 60 dB of its peak. Measured at the signal's own rate (a 16 kHz decode would hide
everything above 8 kHz), streamed: `BandwidthMeter` holds one spectrum, whatever the length.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import scipy.ndimage

BAND_FLOOR_DB = -60.0  # below the long-term spectrum's peak = no content
SMOOTH_BINS = 17  # ~400 Hz at any rate
# Two estimates closer than the smoothing's width cannot be told apart: an output whose band
# ends less than this below its input's (denoising lowers the top band's level a little) is
# not "narrower".
RESOLUTION_HZ = SMOOTH_BINS * 48000 / 2048


def fft_size(rate_hz: int) -> int:
    """2048 at 48 kHz, the same ~23 Hz bins at any rate."""
    return max(256, int(round(2048 * rate_hz / 48000)))


class BandwidthMeter:
    """Accumulates the long-term spectrum of a signal fed in blocks of any length.

    Non-overlapping Hann frames of `fft_size(rate_hz)`; a block's tail waits for the next one,
    so the result does not depend on how the signal was cut.
    """

    def __init__(self, rate_hz: int) -> None:
        self.rate_hz = rate_hz
        self.n_fft = fft_size(rate_hz)
        self._window = np.hanning(self.n_fft)
        self._power = np.zeros(self.n_fft // 2 + 1)
        self._frames = 0
        self._carry = np.zeros(0, np.float64)

    def add(self, block: np.ndarray) -> None:
        x = np.concatenate([self._carry, np.asarray(block, np.float64).reshape(-1)])
        n = len(x) // self.n_fft
        if n:
            frames = x[: n * self.n_fft].reshape(n, self.n_fft) * self._window
            self._power += (np.abs(np.fft.rfft(frames, axis=1)) ** 2).sum(axis=0)
            self._frames += n
        self._carry = x[n * self.n_fft :]

    def cut(self) -> None:
        """Drop a partial frame: the next block does not continue this one."""
        self._carry = np.zeros(0, np.float64)

    def hz(self) -> float | None:
        """The bandwidth, or None for a signal shorter than one frame or all zeros."""
        if not self._frames or not self._power.any():
            return None
        mean = self._power / self._frames
        smooth = scipy.ndimage.uniform_filter1d(mean, SMOOTH_BINS, mode="nearest")
        # the filter's running sum can dip a hair below 0 next to a pure tone's huge bin
        level_db = 10 * np.log10(np.maximum(smooth, 0.0) + 1e-20)
        peak = level_db[3:].max()
        top = int(np.nonzero(level_db > peak + BAND_FLOOR_DB)[0].max())
        return float(round(min((top + 1) * self.rate_hz / self.n_fft, self.rate_hz / 2)))


def bandwidth_hz(excerpts: Iterable[np.ndarray], rate_hz: int) -> float | None:
    """The bandwidth of one or more excerpts of a signal at ``rate_hz`` (each framed alone)."""
    meter = BandwidthMeter(rate_hz)
    for x in excerpts:
        meter.add(x)
        meter.cut()  # excerpts are not contiguous
    return meter.hz()


def wav_bandwidth_hz(path: Path | str, block_s: float = 30.0) -> float | None:
    """The bandwidth of a whole mono (or downmixed) WAV/FLAC, streamed."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as reader:
        meter = BandwidthMeter(reader.samplerate)
        for block in reader.blocks(blocksize=int(block_s * reader.samplerate), dtype="float32",
                                   always_2d=True):
            meter.add(block.mean(axis=1))
    return meter.hz()


def file_bandwidth_hz(path: Path | str) -> float | None:
    """The bandwidth of any file FFmpeg decodes (a delivered MP3, M4A, Opus, video...), at its
    own rate, streamed through the decode pipeline (mono downmix, no resampling)."""
    from shared.audio.pipeline import FramePipeline
    from shared.audio.probe import open_container, select_audio_stream

    with open_container(Path(path)) as container:
        stream = select_audio_stream(container, 64)
        rate = int(stream.codec_context.sample_rate or 48000)
        meter = BandwidthMeter(rate)
        pipeline = FramePipeline(rate, meter.add, max_channels=64,
                                 sample_rate_range_hz=(1, 10**6),
                                 max_abs_sample=float("inf"), float_code="corrupt_audio")
        for frame in container.decode(stream):
            pipeline.add(frame)
        pipeline.finish()
    return meter.hz()
