"""Any folder: noisy/ + clean/ pairs, real/ recordings in any format."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from evaluation.folder import load_audio, read_folder


def tone(rate_hz: int, duration_s: float = 1.5, freq_hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate_hz * duration_s)) / rate_hz
    return (0.3 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def write_m4a(path, audio: np.ndarray, rate_hz: int) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate_hz, layout="mono")
        frame_size = 1024
        for start in range(0, len(audio), frame_size):
            chunk = audio[start : start + frame_size][None, :]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate = rate_hz
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.fixture()
def folder(tmp_path):
    for sub in ("noisy", "clean", "real"):
        (tmp_path / sub).mkdir()
    clean = tone(44_100)
    stereo_noisy = np.stack([clean, clean + 0.01], axis=1)
    sf.write(tmp_path / "clean" / "a.wav", clean, 44_100)
    sf.write(tmp_path / "noisy" / "a.wav", stereo_noisy, 44_100)
    sf.write(tmp_path / "noisy" / "lonely.flac", tone(16_000), 16_000)  # no clean twin
    sf.write(tmp_path / "real" / "c.ogg", tone(48_000, 2.0), 48_000)
    write_m4a(tmp_path / "real" / "d.m4a", tone(48_000, 2.0, 300.0), 48_000)
    (tmp_path / "real" / "notes.txt").write_text("not audio")
    return tmp_path


def test_reads_pairs_unpaired_and_real_in_any_format(folder):
    items = {item.item_id: item for item in read_folder(folder)}
    assert set(items) == {"paired/a", "real/lonely", "real/c", "real/d"}
    pair = items["paired/a"]
    assert pair.paired and pair.set_name == "paired"
    assert len(pair.noisy) == len(pair.clean) == pytest.approx(1.5 * 16_000, abs=2)
    assert not items["real/d"].paired and items["real/d"].set_name == "real"
    for item in items.values():
        assert item.noisy.dtype == np.float32 and item.noisy.ndim == 1


def test_compressed_audio_decodes_to_the_right_pitch_and_length(folder):
    audio, rate_hz = load_audio(folder / "real" / "d.m4a")
    assert rate_hz == 48_000
    assert len(audio) == pytest.approx(2.0 * rate_hz, rel=0.05)  # AAC adds priming samples
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.fft.rfftfreq(len(audio), 1 / rate_hz)[int(np.argmax(spectrum))] == pytest.approx(
        300.0, abs=2.0
    )


def test_downmix_and_resample_keep_the_signal(folder):
    pair = next(i for i in read_folder(folder) if i.item_id == "paired/a")
    assert np.corrcoef(pair.noisy, pair.clean)[0, 1] > 0.99


def test_crop_of_long_real_recordings(folder):
    real = [i for i in read_folder(folder, max_real_duration_s=1.0) if i.set_name == "real"]
    assert all(i.duration_s <= 1.0 for i in real)


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_folder(tmp_path)
