"""The programme's loudness and a true-peak limiter, planned on ~1.3 ms segments.

Mastering used to limit by oversampling every sample 4× on every try of its gain search (four
passes over the file). Here one pass (`ProgrammeAnalysis`, fed the blocks as they are written)
keeps per segment the K-weighted energy and the sample peak; from those:

- a segment's true peak is at most `PEAK_BOUND` × the sample peak around it (the interpolation
  filter's largest phase sum), so only segments whose bound, at the gain tried, crosses the
  ceiling are oversampled — read back from the signal once and cached (`TruePeaks`);
- the limiter (look-ahead, instant attack, exponential release, as before) runs on the segment
  grid, and the samples get its gain linearly interpolated between segment boundaries — each
  boundary value is below what both neighbouring segments need;
- the loudness after gain and limiting is predicted from the energies (a segment's energy ×
  its gain²), so the gain search costs no pass over the audio; the writing pass measures the
  result exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import scipy.ndimage
import scipy.signal

from shared.audio.loudness import oversample
from shared.audio.loudness_stream import STEPS_PER_BLOCK, KWeighting, gated_lufs, step_samples

LOOKAHEAD_S = 0.005
RELEASE_S = 0.08
SEGMENT_SAMPLES = 64  # aimed at; the real length divides the 100 ms loudness step
FETCH_SAMPLES = 1 << 18  # read at most ~5.5 s at a time when measuring peaks (its 4× oversampled
# float64 copies are the transient memory of a measurement)
LUFS_CHUNK_STEPS = 4096  # 100 ms steps summed at a time when predicting loudness
CONTEXT_SAMPLES = 32  # ≥ the oversampling filter's half-length in input samples (10)

Fetch = Callable[[int, int], np.ndarray]  # (start, stop) sample → the signal there, zero-padded


@cache
def peak_bound() -> float:
    """The largest sum of |taps| over the 4 phases of `oversample`'s filter: an interpolated
    value is at most this × the largest input sample within the filter's reach."""
    impulse = np.zeros(64)
    impulse[32] = 1.0
    response = oversample(impulse)
    return float(max(np.abs(response[p::4]).sum() for p in range(4)))


def segment_samples(sample_rate_hz: int) -> int:
    """The divisor of the 100 ms step closest to `SEGMENT_SAMPLES`."""
    step = step_samples(sample_rate_hz)
    divisors = [d for d in range(1, step + 1) if step % d == 0]
    return min(divisors, key=lambda d: (abs(d - SEGMENT_SAMPLES), d))


class ProgrammeAnalysis:
    """Fed the programme block by block (any block sizes): K-weighted energy and sample peak per
    segment. ~16 bytes per segment: 86 MB for 2 hours at 48 kHz."""

    def __init__(self, sample_rate_hz: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.segment = segment_samples(sample_rate_hz)
        self.frames = 0
        self._weighting = KWeighting(sample_rate_hz)
        self._carry = (np.zeros(0, np.float32), np.zeros(0))  # a partial segment: x, weighted
        self._energy: list[np.ndarray] = []
        self._peak: list[np.ndarray] = []

    def feed(self, block: np.ndarray) -> None:
        x = np.asarray(block, np.float32).reshape(-1)
        self.frames += len(x)
        weighted = self._weighting(x)
        if len(self._carry[0]):
            x = np.concatenate([self._carry[0], x])
            weighted = np.concatenate([self._carry[1], weighted])
        n = len(x) // self.segment * self.segment
        self._add(x[:n], weighted[:n])
        self._carry = (x[n:].copy(), weighted[n:].copy())

    def feed_all(self, x: np.ndarray) -> ProgrammeAnalysis:
        self.feed(x)
        return self.finish()

    def finish(self) -> ProgrammeAnalysis:
        if len(self._carry[0]):  # the last, partial segment: its peak counts
            pad = self.segment - len(self._carry[0])
            self._add(np.pad(self._carry[0], (0, pad)), np.pad(self._carry[1], (0, pad)))
            self._carry = (np.zeros(0, np.float32), np.zeros(0))
        return self

    def _add(self, x: np.ndarray, weighted: np.ndarray) -> None:
        rows = weighted.reshape(-1, self.segment)
        self._energy.append(np.einsum("ij,ij->i", rows, rows).astype(np.float32))
        self._peak.append(np.abs(x).reshape(-1, self.segment).max(axis=1))

    @property
    def energy(self) -> np.ndarray:
        self._energy = ([np.concatenate(self._energy)] if self._energy
                        else [np.zeros(0, np.float32)])
        return self._energy[0]

    @property
    def peak(self) -> np.ndarray:
        self._peak = [np.concatenate(self._peak)] if self._peak else [np.zeros(0, np.float32)]
        return self._peak[0]

    def lufs(self, gains: np.ndarray | None = None, gain: float = 1.0) -> float:
        """Integrated loudness of the programme × ``gain`` × the per-segment ``gains``."""
        energy = self.energy
        step = step_samples(self.sample_rate_hz)
        n_steps = self.frames // step
        if n_steps < STEPS_PER_BLOCK:  # shorter than one gating block: measured as one
            if not self.frames:
                return float("-inf")
            weighted = energy if gains is None else energy * np.square(gains)
            mean_square = weighted.sum(dtype=np.float64) * gain**2 / self.frames
            return gated_lufs(np.full(STEPS_PER_BLOCK, mean_square))
        per_step = step // self.segment
        steps = np.empty(n_steps)
        # a few seconds' worth at a time: no programme-long temporaries (2 h: 5.4 M segments)
        for first in range(0, n_steps, LUFS_CHUNK_STEPS):
            last = min(first + LUFS_CHUNK_STEPS, n_steps)
            part = energy[first * per_step : last * per_step].reshape(-1, per_step)
            if gains is None:
                steps[first:last] = part.sum(axis=1, dtype=np.float64)
            else:
                g = gains[first * per_step : last * per_step].reshape(-1, per_step)
                steps[first:last] = np.einsum("ij,ij,ij->i", part, g, g, dtype=np.float64)
        return gated_lufs(steps * gain**2 / step)

    def peak_bounds(self) -> np.ndarray:
        """Per segment, an upper bound of its true peak."""
        reach = -(-CONTEXT_SAMPLES // self.segment)
        dilated = scipy.ndimage.maximum_filter1d(self.peak, 2 * reach + 1, mode="constant")
        return dilated * np.float32(peak_bound())


def output_peak_bounds(peaks: TruePeaks, gains: np.ndarray, gain: float) -> np.ndarray:
    """Per segment, an upper bound of the output's true peak (programme × gain × `gains`
    interpolated): where the input's true peak is known, that peak × the segment's largest gain
    plus what the gain's change within the filter's reach could add; elsewhere the input's
    bound × the largest gain."""
    # in place where it can: a 2-hour programme has 5.4 M segments (21 MB per float32 array)
    largest = np.empty_like(gains)
    largest[:-1], largest[-1:] = gains[1:], gains[-1:]  # the following segment's gain
    change = np.subtract(largest, gains)
    np.abs(change, out=change)
    np.maximum(largest, gains, out=largest)
    change = scipy.ndimage.maximum_filter1d(change, 3, mode="nearest")
    known = np.flatnonzero(~np.isnan(peaks.values))
    exact = (largest[known] * peaks.values[known] + peaks.bounds[known] * change[known]
             * np.float32(min(CONTEXT_SAMPLES / peaks.segment, 1.0)))
    del change
    bounds = np.multiply(largest, peaks.bounds, out=largest)
    bounds[known] = exact
    bounds *= np.float32(gain)
    return bounds


class TruePeaks:
    """Exact true peaks of the segments asked for, measured once each from ``fetch``."""

    def __init__(self, analysis: ProgrammeAnalysis, fetch: Fetch) -> None:
        self.segment = analysis.segment
        self.bounds = analysis.peak_bounds()
        self.values = np.full(len(self.bounds), np.nan, np.float32)
        self._fetch = fetch

    def measure(self, wanted: np.ndarray, gains: np.ndarray | None = None,
                gain: float = 1.0) -> np.ndarray:
        """Measure the ``wanted`` segments (bool mask) not yet measured; with ``gains``, measure
        instead the signal × gain × the interpolated gains (the output), uncached."""
        todo = wanted if gains is not None else wanted & np.isnan(self.values)
        out = np.zeros(len(self.bounds), np.float32)
        reach = -(-CONTEXT_SAMPLES // self.segment)
        padded = None if gains is None else np.pad(gains, (reach, reach + 1), mode="edge")
        runs = _runs(todo, gap=2 * reach + 1)  # merged where that oversamples less
        for group in _groups(runs, max_segments=FETCH_SAMPLES // self.segment):
            # one read per group; the runs (each with its own context) oversampled as one
            # array: a run's inner samples only see its own context through the filter
            base, end = group[0][0] - reach, group[-1][1] + 1 + reach
            span = self._fetch(base * self.segment, end * self.segment)
            if padded is not None:  # the output: × gain × the interpolated gains, once a group
                span = span * (gain * sample_gains(padded, base + reach, end + reach,
                                                   self.segment))
            pieces = [span[(first - reach - base) * self.segment
                           : (last + 1 + reach - base) * self.segment] for first, last in group]
            up = np.abs(oversample(np.concatenate(pieces))).reshape(-1, 4 * self.segment)
            per_segment = up.max(axis=1)
            at = 0
            for first, last in group:
                n = last + 1 - first
                out[first : last + 1] = per_segment[at + reach : at + reach + n]
                at += n + 2 * reach
        if gains is None:
            self.values[todo] = out[todo]
        return out


def _groups(runs: list[tuple[int, int]], max_segments: int) -> list[list[tuple[int, int]]]:
    """Consecutive runs gathered into one read while their span stays under ``max_segments``
    and no gap between them is longer than a read costs (~16 runs' worth)."""
    groups: list[list[tuple[int, int]]] = []
    for run in runs:
        if (groups and run[1] - groups[-1][0][0] < max_segments
                and run[0] - groups[-1][-1][1] < max_segments // 16):
            groups[-1].append(run)
        else:
            groups.append([run])
    return groups


def _runs(mask: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Inclusive (first, last) index runs of ``mask``; runs closer than ``gap`` are merged."""
    where = np.flatnonzero(mask)
    if not len(where):
        return []
    breaks = np.flatnonzero(np.diff(where) > gap)
    firsts = np.concatenate([where[:1], where[breaks + 1]])
    lasts = np.concatenate([where[breaks], where[-1:]])
    return list(zip(firsts.tolist(), lasts.tolist(), strict=True))


def limiter_gains(peaks: np.ndarray, ceiling: float, sample_rate_hz: int, segment: int,
                  start: float = 1.0) -> np.ndarray:
    """Per segment boundary-ready gains (≤ 1) that keep ``peaks`` (true peaks after the
    programme gain; 0 where known to be below the ceiling) at or under ``ceiling``."""
    # float32 and in place where it can: a 2-hour programme has 5.4 M segments
    needed = np.maximum(peaks, np.float32(1e-12), dtype=np.float32)
    np.divide(np.float32(ceiling), needed, out=needed)
    np.minimum(needed, np.float32(1.0), out=needed)
    if needed.min() >= 1.0:
        return np.ones(len(peaks), np.float32)
    look = max(int(np.ceil(LOOKAHEAD_S * sample_rate_hz / segment)), 1)
    # hold the lowest gain over the look-ahead window (one segment wider each side, for the
    # interpolation between boundaries), then smooth: each average covers only held values whose
    # windows include this segment and its neighbours, so it stays ≤ what they need
    held = scipy.ndimage.minimum_filter1d(needed, 2 * look + 3, mode="nearest")
    gain = scipy.ndimage.uniform_filter1d(held, look, mode="nearest")
    scipy.ndimage.minimum_filter1d(needed, 3, mode="nearest", output=held)
    del needed
    np.minimum(gain, held, out=gain)
    del held
    release = np.exp(-segment / (RELEASE_S * sample_rate_hz))
    smoothed = scipy.signal.lfilter(np.array([1 - release], np.float32),
                                    np.array([1, -release], np.float32), gain,
                                    zi=np.array([release * start], np.float32))[0]
    np.maximum(smoothed, gain.min(), out=smoothed)
    np.minimum(gain, smoothed, out=gain)
    del smoothed
    gain[gain > 1.0 - 1e-5] = 1.0  # the release's tail (< 0.0001 dB): no gain to apply
    return gain.astype(np.float32, copy=False)


def sample_gains(gains: np.ndarray, first: int, stop: int, segment: int) -> np.ndarray:
    """The per-sample gain over segments [first, stop): linear from each segment's value to the
    next one's (the last segment holds its value)."""
    here = gains[first:stop].astype(np.float64)
    following = gains[first + 1 : stop + 1].astype(np.float64)
    following = np.concatenate([following, here[len(following) :]])
    ramp = np.arange(segment) / segment
    return (here[:, None] + (following - here)[:, None] * ramp[None, :]).reshape(-1)


def apply_gains(x: np.ndarray, gains: np.ndarray, first: int, segment: int) -> np.ndarray:
    """x: [T] starting at segment ``first`` → x × the interpolated ``gains``, in place; only the
    segments whose gain differs from 1 are touched."""
    stop = first + -(-len(x) // segment)
    here = gains[first:stop]
    following = np.concatenate([gains[first + 1 : stop + 1], here[len(gains) - first - 1 :]])
    busy = np.flatnonzero((here < 1.0) | (following[: len(here)] < 1.0))
    if not len(busy):
        return x
    whole = x if len(x) == len(here) * segment else np.pad(x, (0, len(here) * segment - len(x)))
    rows = whole.reshape(-1, segment)
    ramp = np.arange(segment) / segment
    rows[busy] *= here[busy, None] + (following[busy] - here[busy])[:, None] * ramp[None, :]
    return whole[: len(x)]
