"""Every output format through the chain's last step (`finish_file`: resample → master →
deliver), checked from the outside: the delivered file is decoded with FFmpeg (PyAV) here, its
codec and container named, and its duration, loudness (pyloudnorm) and true peak (4×
oversampled with scipy) measured on what a player would play — not on what was fed to the
encoder. Lossy encoders overshoot the limiter's peak; the delivered file must still be ≤ −1 dBTP.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import soundfile as sf

from services.upsampler.finish import finish_file
from shared.audio import deliver

# format → (FFmpeg decoder, FFmpeg demuxer, delivered rate for a 44.1 kHz request)
FORMATS = {
    "wav": ("pcm_s24le", "wav", 44100),
    "flac": ("flac", "flac", 44100),
    "mp3": ("mp3float", "mp3", 44100),
    "m4a": ("aac", "mov,mp4,m4a,3gp,3g2,mj2", 44100),
    "opus": ("opus", "ogg", 48000),
}
TARGETS = {"podcast": -16.0, "video": -14.0}
AAC_FRAME_S = 1024 / 44100  # the AAC encoder's last frame is not trimmed (no gapless info)


def speech_like(seconds: float, rate_hz: int, seed: int) -> np.ndarray:
    """A voice-like test signal: a gliding 120-200 Hz pulse train's harmonics, syllables at
    ~4 Hz, pauses, and a little noise — crest factor and spectrum of speech, nothing real."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    f0 = 160 + 40 * np.sin(2 * np.pi * 0.31 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate_hz
    voiced = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 40))
    syllables = np.clip(np.sin(2 * np.pi * 3.7 * t) + 0.4 * np.sin(2 * np.pi * 1.1 * t), 0, None)
    pauses = (np.sin(2 * np.pi * 0.23 * t) > -0.6).astype(float)
    x = voiced * syllables * pauses + 0.01 * rng.standard_normal(len(t))
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


def decode(path: Path) -> tuple[np.ndarray, int, str, str, dict[str, str]]:
    """(mono float64 samples, rate, decoder, demuxer, container + stream tags)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().reshape(frame.layout.nb_channels, -1).astype(np.float64)
                  for frame in container.decode(stream)]
        tags = {**{k.lower(): v for k, v in stream.metadata.items()},
                **{k.lower(): v for k, v in container.metadata.items()}}
        fmt = stream.codec_context.format.name
        audio = np.concatenate(chunks, axis=1).mean(axis=0)
        if fmt.rstrip("p") in ("s16", "s32"):
            audio = audio / (2.0**15 if fmt.startswith("s16") else 2.0**31)
        return (audio, stream.codec_context.sample_rate, stream.codec_context.name,
                container.format.name, tags)


def true_peak_dbtp(x: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(scipy.signal.resample_poly(x, 4, 1)))))


def _source(tmp_path: Path, audio: np.ndarray, rate_hz: int) -> Path:
    path = tmp_path / "wide.wav"
    sf.write(str(path), audio, rate_hz, subtype="FLOAT")
    return path


@pytest.mark.parametrize("preset", ["podcast", "video"])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_format_decodes_as_its_codec_at_target_loudness_and_under_the_ceiling(
        tmp_path: Path, fmt: str, preset: str) -> None:
    seconds = 12.0
    src = _source(tmp_path, speech_like(seconds, 48000, seed=len(fmt)), 48000)
    dst = tmp_path / f"out.{fmt}"
    metrics = finish_file(src, dst, target_rate_hz=44100, preset=preset, fmt=fmt, bit_depth=24,
                          tags={"title": "Episode 12", "artist": "Ada"})
    audio, rate, decoder, demuxer, tags = decode(dst)
    expected_decoder, expected_demuxer, expected_rate = FORMATS[fmt]
    assert (decoder, demuxer, rate) == (expected_decoder, expected_demuxer, expected_rate)
    duration_s = len(audio) / rate
    assert duration_s == pytest.approx(seconds, abs=AAC_FRAME_S if fmt == "m4a" else 0.002)
    lufs = pyloudnorm.Meter(rate).integrated_loudness(audio)
    peak = true_peak_dbtp(audio)
    print(f"FORMAT {fmt} {preset}: {lufs:.2f} LUFS, {peak:.2f} dBTP, {duration_s:.3f} s, "
          f"{metrics.get('encodes', 1)} encode(s)")
    assert lufs == pytest.approx(TARGETS[preset], abs=1.0)
    assert peak <= -1.0
    # what the job reports is what was delivered
    assert metrics["output_format"] == fmt and metrics["output_sample_rate_hz"] == rate
    assert metrics["output_lufs"] == pytest.approx(lufs, abs=0.1)
    assert metrics["output_true_peak_dbtp"] <= -1.0
    assert tags.get("title") == "Episode 12" and tags.get("artist") == "Ada"


def test_a_suffix_nothing_can_write_is_refused():
    from shared.audio.formats import get_format

    with pytest.raises(ValueError, match="cannot write"):
        get_format("xyz")


@pytest.mark.data
@pytest.mark.parametrize("fmt", ["mp3", "m4a", "opus"])
@pytest.mark.parametrize("name", ["demopage-voicefixer__real__bruce.wav",
                                  "demopage-voicefixer__real__xigua.wav"])
def test_real_recordings_in_lossy_formats_stay_under_the_ceiling(tmp_path, data_dir, fmt, name):
    """Two real recordings (one clipped at capture) mastered to −14 LUFS, where AAC's overshoot
    on limited audio reached +2.6 dB with the lossless ceiling."""
    path = data_dir / "real_noisy" / name
    if not path.is_file():
        pytest.skip(f"{name} not in the data folder")
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    src = _source(tmp_path, audio.mean(axis=1), rate)
    dst = tmp_path / f"out.{fmt}"
    finish_file(src, dst, target_rate_hz=48000, preset="video", fmt=fmt, bit_depth=24)
    decoded, rate_out, *_ = decode(dst)
    lufs = pyloudnorm.Meter(rate_out).integrated_loudness(decoded)
    print(f"REAL {name[-9:-4]} {fmt}: {lufs:.2f} LUFS, {true_peak_dbtp(decoded):.2f} dBTP")
    assert true_peak_dbtp(decoded) <= -1.0
    assert lufs == pytest.approx(-14, abs=1.0)


def test_mp3_is_vbr_unless_a_bit_rate_is_asked_for(tmp_path: Path) -> None:
    src = _source(tmp_path, speech_like(6.0, 48000, seed=3), 48000)
    sizes = {}
    for kbps in (None, 128):
        dst = tmp_path / f"{kbps}.mp3"
        finish_file(src, dst, target_rate_hz=48000, preset="podcast", fmt="mp3", bit_depth=24,
                    bitrate_kbps=kbps)
        with av.open(str(dst)) as container:
            sizes[kbps] = {p.size for p in container.demux(audio=0) if p.size}
    assert len(sizes[None]) > 3  # frame sizes follow the content
    assert max(sizes[128]) - min(sizes[128]) <= 1  # CBR: one size (± the padding byte)
    assert min(sizes[128]) == 128_000 * 1152 // 8 // 48000


def test_an_encoder_overshoot_is_measured_and_corrected(tmp_path: Path, monkeypatch) -> None:
    """With lossy mastering given the lossless ceiling, a hard-limited signal's AAC decodes
    above −1 dBTP; delivery measures that and brings the file back under."""
    monkeypatch.setattr(deliver, "LOSSY_CEILING_DBTP", deliver.CEILING_DBTP)
    rng = np.random.default_rng(5)
    x = speech_like(10.0, 48000, seed=5)
    for at in rng.integers(0, len(x) - 200, 30):  # plosive-like clicks: the limiter works hard
        x[at:at + 120] += 0.9 * np.hanning(120) * rng.choice([-1.0, 1.0], 120)
    src = _source(tmp_path, np.clip(x, -1, 1), 48000)
    dst = tmp_path / "out.m4a"
    metrics = finish_file(src, dst, target_rate_hz=48000, preset="video", fmt="m4a",
                          bit_depth=24)
    decoded, *_ = decode(dst)
    assert metrics["encodes"] >= 2
    assert true_peak_dbtp(decoded) <= -1.0
