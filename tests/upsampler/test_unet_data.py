"""The U-Net's training data: every way of making an input cuts where it says, stays aligned
with its target, and reports the cutoff the chain would measure; the file lists."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from services.upsampler import data, inputs

RATE_HZ = 48000


def band_db(audio: np.ndarray, rate_hz: int, low_hz: float, high_hz: float) -> float:
    """Mean power density in [low, high) relative to the density in 500–3000 Hz, in dB."""
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / rate_hz)
    band = spectrum[(freqs >= low_hz) & (freqs < high_hz)].mean()
    passband = spectrum[(freqs >= 500) & (freqs < 3000)].mean()
    return float(10 * np.log10(band / passband + 1e-30))


@pytest.fixture(scope="module")
def noise_48k() -> np.ndarray:
    return np.random.default_rng(0).normal(0, 0.1, 3 * RATE_HZ).astype(np.float32)


@pytest.fixture(scope="module")
def speech_48k() -> np.ndarray:
    """Full-band and speech-like: harmonics (falling 6 dB per octave) under an envelope, and
    full-band noise bursts (codecs spend their bits as on speech)."""
    rng = np.random.default_rng(1)
    t = np.arange(3 * RATE_HZ) / RATE_HZ
    voiced = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 100))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    bursts = rng.normal(0, 0.05, len(t)) * (np.sin(2 * np.pi * 1.5 * t) > 0.6)
    return (0.1 * (voiced * envelope) + bursts).astype(np.float32)


@pytest.mark.parametrize("name", sorted(inputs.EVAL_FILTERS))
def test_eval_filters_cut_above_8khz(noise_48k, name):
    params = inputs.EVAL_FILTERS[name]
    low = inputs.degrade_to_16k(noise_48k, params)
    assert len(low) == len(noise_48k) // 3
    assert abs(band_db(low, 16000, 1000, 5000)) < 1.5  # passband kept
    network_input = inputs.interpolate_to_48k(low)
    assert len(network_input) == len(noise_48k)
    assert band_db(network_input, RATE_HZ, 8200, 24000) < -50
    if name != "soxr":
        assert band_db(inputs.lowpass_48k(noise_48k, params), RATE_HZ, 10000, 24000) < -40


# (spec, tolerance of the measured cutoff around the nominal one: fraction below, above). The
# estimate sits a little above a steep edge (its 60 dB threshold, its ~375 Hz smoothing), further
# above a shallow one; codecs choose their own band below the rate's Nyquist.
SPECS = [
    (inputs.InputSpec("soxr", 8000, cutoff_hz=4000.0), 0.1, 0.05),
    (inputs.InputSpec("soxr", 16000, cutoff_hz=8000.0), 0.1, 0.05),
    (inputs.InputSpec("soxr", 24000, cutoff_hz=12000.0), 0.1, 0.05),
    (inputs.InputSpec("iir", 16000, "brickwall", 4000.0), 0.05, 0.08),
    (inputs.InputSpec("iir", 16000, "cheby1", 5500.0, order=10, ripple_db=0.5), 0.05, 0.15),
    (inputs.InputSpec("iir", 16000, "ellip", 6500.0, order=8, ripple_db=0.1), 0.05, 0.1),
    (inputs.InputSpec("iir", 48000, "butter", 8000.0, order=12), 0.05, 0.3),
    (inputs.InputSpec("iir", 48000, "cheby1", 11000.0, order=8, ripple_db=0.1), 0.05, 0.2),
    (inputs.InputSpec("codec", 48000, "opus", 8000.0, bitrate=16000), 0.2, 0.25),
    (inputs.InputSpec("codec", 16000, "aac", 8000.0, bitrate=24000), 0.5, 0.05),
    (inputs.InputSpec("codec", 22050, "mp3", 11025.0, bitrate=32000), 0.5, 0.05),
]


@pytest.mark.parametrize("spec, below, above", SPECS, ids=lambda s: getattr(s, "family", "")
                         or getattr(s, "kind", str(s)))
def test_each_input_type_has_its_cutoff_and_stays_aligned(speech_48k, spec, below, above):
    made, target, measured_hz = data.make_example(speech_48k, spec)
    assert made.shape == target.shape and made.dtype == np.float32
    # the measured cutoff is near the nominal one (codecs pick their own, below it) ...
    assert spec.cutoff_hz * (1 - below) <= measured_hz <= spec.cutoff_hz * (1 + above)
    # ... and true: nothing of the input lies more than 10 % above it
    top = min(measured_hz * 1.1, 23000)
    assert band_db(made, RATE_HZ, top, max(top + 1000, 23500)) < -45
    # aligned: the input is the target low-passed — no lag, in-band correlation high
    spectrum_t, spectrum_m = np.fft.rfft(target), np.fft.rfft(made)
    keep = np.fft.rfftfreq(len(target), 1 / RATE_HZ) < 0.7 * measured_hz
    low_t = np.fft.irfft(np.where(keep, spectrum_t, 0), n=len(target))
    low_m = np.fft.irfft(np.where(keep, spectrum_m, 0), n=len(target))
    lags = np.arange(-40, 41)
    corr = [np.dot(np.roll(low_m, int(k)), low_t) for k in lags]
    assert lags[int(np.argmax(corr))] == 0
    assert np.dot(low_m, low_t) / np.linalg.norm(low_m) / np.linalg.norm(low_t) > 0.9


def test_random_specs_cover_every_kind_and_cutoff():
    rng = np.random.default_rng(2)
    specs = [inputs.random_spec(rng) for _ in range(600)]
    assert {s.kind for s in specs} == {"soxr", "iir", "codec"}
    iir = [s for s in specs if s.kind == "iir"]
    for nominal in inputs.IIR_CUTOFFS_HZ:
        assert any(abs(s.cutoff_hz / nominal - 1) <= 0.05 for s in iir), nominal
    assert {s.family for s in iir} == set(inputs.IIR_FAMILIES)
    assert {s.family for s in specs if s.kind == "codec"} == {"aac", "mp3", "opus"}
    assert all(s.rate_hz == 16000 for s in iir if s.cutoff_hz < 7600)


def test_realign_finds_a_codec_delay():
    rng = np.random.default_rng(3)
    reference = rng.normal(0, 0.1, 20000).astype(np.float32)
    delayed = np.concatenate([np.zeros(1234, np.float32), reference, np.zeros(50, np.float32)])
    np.testing.assert_array_equal(inputs.realign(delayed, reference, 2000), reference)


def test_full_band_detection(tmp_path, noise_48k):
    sf.write(tmp_path / "wide.wav", noise_48k, RATE_HZ)
    narrow = inputs.interpolate_to_48k(inputs.degrade_to_16k(noise_48k,
                                                             inputs.EVAL_FILTERS["soxr"]))
    sf.write(tmp_path / "narrow.wav", narrow, RATE_HZ)
    sf.write(tmp_path / "low_rate.wav", noise_48k[:16000], 16000)
    assert data.is_full_band(tmp_path / "wide.wav")
    assert not data.is_full_band(tmp_path / "narrow.wav")
    assert not data.is_full_band(tmp_path / "low_rate.wav")


def test_full_band_files_read_both_folders_and_hold_out_ravdess_actors(tmp_path, noise_48k):
    (tmp_path / "clean").mkdir()
    (tmp_path / "fullband_ravdess").mkdir()
    x = noise_48k[:RATE_HZ]
    sf.write(tmp_path / "clean" / "p225_001.wav", x, RATE_HZ)  # training speaker
    sf.write(tmp_path / "clean" / "p227_001.wav", x, RATE_HZ)  # held out
    for actor in ("01", "04"):  # 04 is held out (shared.datasplit)
        sf.write(tmp_path / "fullband_ravdess" / f"ravdess__Actor_{actor}__03-01-01.flac", x,
                 RATE_HZ)
    def names(held_out: bool) -> list[str]:
        return [data.relative_name(p, tmp_path) for p in data.full_band_files(tmp_path, held_out)]

    ravdess = "fullband_ravdess/ravdess__Actor_{}__03-01-01.flac"
    assert names(False) == ["clean/p225_001.wav", ravdess.format("01")]
    assert names(True) == ["clean/p227_001.wav", ravdess.format("04")]


def test_examples_are_aligned_crops_with_their_measured_cutoff(speech_48k):
    stream = data.examples([speech_48k], crop_length=4800, seed=0, kind="soxr")
    for _ in range(6):
        x, conditioning_hz, y, measured_hz = next(stream)
        assert x.shape == y.shape == (4800, 1)
        assert abs(conditioning_hz / measured_hz - 1) <= data.CUTOFF_JITTER + 1e-9
        assert 3500 < measured_hz < 12600
        # same gain and polarity on both: their in-band correlation is strongly positive
        assert np.dot(x[:, 0], y[:, 0]) / np.linalg.norm(x) / np.linalg.norm(y) > 0.5
    x, c, y, m = data.fixed_examples([speech_48k], 4800, count=3, seed=1)
    assert x.shape == y.shape == (3, 4800, 1) and c.shape == (3, 1) and m.shape == (3,)
