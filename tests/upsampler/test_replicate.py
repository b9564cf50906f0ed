"""Spectral band replication above a wide input's own cutoff (services/upsampler/replicate.py),
and `auto`'s choice between it and the U-Net in `widen`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from services.upsampler import replicate
from services.upsampler.widen import widen
from shared.audio.bandwidth import RESOLUTION_HZ, bandwidth_hz
from tests.media import fullband_speech

RATE_HZ = 48000


def band_db(x: np.ndarray, low_hz: float, high_hz: float) -> float:
    f, power = signal.welch(x, RATE_HZ, nperseg=4096)
    return float(10 * np.log10(power[(f >= low_hz) & (f < high_hz)].mean() + 1e-30))


def test_white_noise_is_continued_above_the_cutoff_level_db_under_its_source():
    """White noise low-passed at 17 kHz: its source octave is flat (slope 0 dB/octave), so the
    band above comes back flat, `LEVEL_DB` under the source, and nothing lands below it."""
    rng = np.random.default_rng(3)
    sos = signal.cheby1(12, 0.1, 17000, fs=RATE_HZ, output="sos")
    x = signal.sosfiltfilt(sos, rng.standard_normal(10 * RATE_HZ)).astype(np.float32)
    y = replicate.replicate_above(x, RATE_HZ, 17000.0)
    assert y.shape == x.shape and y.dtype == np.float32
    source_db = band_db(x, 9000, 16000)
    for low, high in ((17500, 20000), (20000, 23500)):
        assert abs(band_db(y, low, high) - (source_db + replicate.LEVEL_DB)) < 1.5, (low, high)
    assert band_db(y, 1000, 15500) < source_db - 60  # only the band above the cutoff


def test_a_falling_source_keeps_falling_above_the_cutoff():
    """Noise falling 9 dB per octave through 8-17 kHz: the fill goes on falling (within the
    clipped slope range), rather than staying at the cutoff's level."""
    rng = np.random.default_rng(4)
    n = 10 * RATE_HZ
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / RATE_HZ)
    spectrum *= np.where(freqs < 17000, (np.maximum(freqs, 100) / 1000) ** (-9 / 20 / np.log10(2)),
                         0)
    x = np.fft.irfft(spectrum, n).astype(np.float32)
    y = replicate.replicate_above(x, RATE_HZ, 17000.0)
    drop = band_db(y, 17500, 18500) - band_db(y, 22000, 23500)
    expected = 9 * np.log2(22750 / 18000)
    assert abs(drop - expected) < 2.0


def test_nothing_to_copy_gives_silence_of_the_same_length():
    assert not np.any(replicate.replicate_above(np.zeros(RATE_HZ, np.float32), RATE_HZ, 17000.0))
    short = np.ones(100, np.float32)
    assert np.array_equal(replicate.replicate_above(short, RATE_HZ, 17000.0), np.zeros(100))
    # a cutoff at the Nyquist leaves no band to fill
    tone = np.sin(np.arange(RATE_HZ) * 0.3).astype(np.float32)
    assert not np.any(replicate.replicate_above(tone, RATE_HZ, 24000.0))


def test_auto_replicates_from_16_khz_and_leaves_narrower_gaps_to_the_network(tmp_path: Path):
    """The chain's widen step on a 48 kHz full-band intermediate: from a 17 kHz cutoff `auto`
    replicates (the result at the input's own rate, filled above, the kept band untouched);
    at 12 kHz, where the enhancer took the band's top, or where an engine is named, the
    super-resolution engine runs."""
    clean, _ = fullband_speech(6.0, RATE_HZ, 21000, seed=31)
    enhanced_16k = tmp_path / "enhanced.wav"
    sf.write(enhanced_16k, signal.resample_poly(clean, 1, 3).astype(np.float32), 16000,
             subtype="FLOAT")
    for cut_hz in (17000.0, 12000.0):
        kept = signal.sosfiltfilt(signal.cheby1(12, 0.1, cut_hz, fs=RATE_HZ, output="sos"),
                                  clean).astype(np.float32)
        fullband = tmp_path / f"fullband_{cut_hz:.0f}.wav"
        sf.write(fullband, kept, RATE_HZ, subtype="FLOAT")
        cutoff = bandwidth_hz([kept], RATE_HZ)
        assert cutoff is not None and abs(cutoff - cut_hz) < 1000
        work = tmp_path / f"work_{cut_hz:.0f}"
        work.mkdir()
        widened = widen(enhanced_16k, fullband, cutoff, "auto", work)
        out, rate = sf.read(str(widened.path), dtype="float32")
        if cut_hz >= replicate.REPLICATE_FROM_HZ:
            assert (widened.engine, widened.version) == ("replicate", replicate.VERSION)
            assert rate == RATE_HZ and len(out) == len(kept)
            assert bandwidth_hz([out], RATE_HZ) >= cutoff - RESOLUTION_HZ
            assert band_db(out, cutoff + 800, 23000) > band_db(kept, cutoff + 800, 23000) + 30
            assert band_db(out - kept, 2000, cutoff - 300) < band_db(kept, 2000, cutoff - 300) - 30
        else:
            assert widened.engine not in ("replicate", "none")
        assert widen(enhanced_16k, fullband, cutoff, "resample", work).engine == "resample"
        if cut_hz >= replicate.REPLICATE_FROM_HZ:
            # the input reached 21 kHz and the enhancer's gains took its top down to 17 kHz:
            # the octave under that seam is thinned, so the network fills from it instead
            taken = widen(enhanced_16k, fullband, 21000.0, "auto", work)
            assert taken.engine not in ("replicate", "none")
