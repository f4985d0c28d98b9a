"""Framing exactly as docs/protocol.md ("One run") says, and decoding/resampling of real files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from bench.audio.decode import load, load_resampled
from bench.audio.frames import frame_count, frame_times, frame_windows
from bench.errors import AudioError


@pytest.mark.parametrize("seconds, sr, expected", [
    (5.0, 48000, 41), (4.0, 48000, 31), (30.0, 48000, 291),  # ESC-50, US8K, DCASE at L3's rate
    (5.0, 16000, 41), (0.05, 48000, 1), (1.0, 48000, 1), (1.05, 48000, 1), (1.1, 48000, 2),
])
def test_frame_counts(seconds, sr, expected):
    n = int(round(seconds * sr))
    assert frame_count(n, sr, sr // 10) == expected
    assert frame_windows(np.zeros(n, np.float32), sr, sr // 10).shape == (expected, sr)


def test_windows_start_at_zero_hop_and_drop_the_tail():
    y = np.arange(105, dtype=np.float32)
    w = frame_windows(y, 20, 10)
    # starts 0, 10, ..., 80 (80 + 20 = 100 <= 105); the 5-sample tail is dropped
    assert w.shape == (9, 20)
    for i in range(9):
        np.testing.assert_array_equal(w[i], y[10 * i:10 * i + 20])
    np.testing.assert_allclose(frame_times(9, 0.1), np.arange(9) * 0.1)


def test_short_clip_is_zero_padded_to_one_window():
    y = np.ones(7, np.float32)
    w = frame_windows(y, 20, 10)
    assert w.shape == (1, 20)
    np.testing.assert_array_equal(w[0, :7], 1.0)
    np.testing.assert_array_equal(w[0, 7:], 0.0)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_downmix_and_resample_keep_tone_and_level(tmp_path, subtype):
    # decoding and downmixing each depth exactly: tests/test_datasets_audio.py
    sr = 22050
    t = np.arange(sr) / sr
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    right = 0.25 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / f"x-{subtype}.wav"
    sf.write(path, np.stack([left, right], 1), sr, subtype=subtype)
    z = load_resampled(path, 48000)
    assert abs(len(z) - 48000) <= 1
    # a 440 Hz tone stays a 440 Hz tone of the same level after resampling
    spectrum = np.abs(np.fft.rfft(z[:48000] * np.hanning(len(z[:48000]))))
    assert abs(np.argmax(spectrum) * 48000 / len(z[:48000]) - 440) < 2
    assert abs(np.sqrt(np.mean(z[2000:-2000] ** 2)) - 0.375 / np.sqrt(2)) < 0.01


def test_unreadable_file_names_the_path(tmp_path):
    bad = tmp_path / "not-audio.wav"
    bad.write_bytes(b"this is not a wav file")
    with pytest.raises(AudioError, match="not-audio.wav"):
        load(bad)
    with pytest.raises(AudioError, match="not found"):
        load(tmp_path / "missing.wav")
