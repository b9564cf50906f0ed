"""The streaming loudness meter agrees with pyloudnorm's whole-signal measurement."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from shared.audio.loudness_stream import StreamingLoudness


@pytest.mark.parametrize("rate", [16000, 48000, 44100])
def test_matches_pyloudnorm_on_speechlike_noise(rate):
    rng = np.random.default_rng(0)
    t = np.arange(rate * 12) / rate
    # amplitude-modulated noise with pauses: the gates matter
    gate = np.sin(2 * np.pi * 0.3 * t) > -0.2
    envelope = gate * (0.05 + 0.3 * np.abs(np.sin(2 * np.pi * 3 * t)))
    audio = (rng.standard_normal(len(t)) * envelope).astype(np.float32)
    expected = pyloudnorm.Meter(rate).integrated_loudness(audio)
    meter = StreamingLoudness(rate)
    for start in range(0, len(audio), 12345):  # odd block size: state must carry across blocks
        meter.feed(audio[start : start + 12345])
    assert meter.integrated_lufs() == pytest.approx(expected, abs=0.1)


def test_sine_at_known_level():
    rate = 48000
    t = np.arange(rate * 5) / rate
    audio = 10 ** (-20 / 20) * np.sin(2 * np.pi * 1000 * t)  # −20 dBFS peak sine at 1 kHz
    meter = StreamingLoudness(rate)
    meter.feed(audio)
    # BS.1770: a full-scale 1 kHz sine reads −3.01 LUFS; −20 dB → about −23 LUFS
    assert meter.integrated_lufs() == pytest.approx(-23.0, abs=0.2)


def test_silence_is_minus_infinity():
    meter = StreamingLoudness(16000)
    meter.feed(np.zeros(16000 * 3))
    assert meter.integrated_lufs() == float("-inf")
