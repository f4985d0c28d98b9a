"""Audio decoding across UrbanSound8K's variety: depths, WAVE_FORMAT_EXTENSIBLE, channels, rates,
very short clips; truncated and broken files are refused with the path and the reason."""

from __future__ import annotations

import numpy as np
import pytest

from bench.audio.decode import load, load_resampled, probe, wav_problem
from bench.errors import AudioError
from datasets_fixtures import read_wav_header, truncate, write_wav

# (subtype, extensible, bits, format tag in the header, channels, rate, seconds)
INT_CASES = [
    ("PCM_U8", False, 8, 1, 1, 11025, 0.3),
    ("PCM_16", False, 16, 1, 2, 44100, 0.055),
    ("PCM_16", True, 16, 0xFFFE, 1, 16000, 0.2),
    ("PCM_24", True, 24, 0xFFFE, 2, 48000, 0.25),
    ("PCM_24", False, 24, 1, 1, 96000, 0.1),
    ("PCM_32", False, 32, 1, 1, 8000, 0.5),
]


@pytest.mark.parametrize("subtype,ext,bits,tag,channels,sr,seconds", INT_CASES)
def test_integer_pcm_decodes_to_the_written_values(tmp_path, subtype, ext, bits, tag, channels,
                                                    sr, seconds):
    rng = np.random.default_rng(bits + channels)
    n = int(round(seconds * sr))
    full = 2 ** (bits - 1)
    k = rng.integers(-full, full, size=(n, channels), dtype=np.int64)
    k[0] = -full          # the extremes survive the round trip
    k[1] = full - 1
    # soundfile takes int32 full-scale input and keeps the top `bits` bits
    data = (k << (32 - bits)).astype(np.int32)
    path = write_wav(tmp_path / f"x_{subtype}.wav", data, sr, subtype, ext)

    hdr = read_wav_header(path)  # independent of libsndfile: the file is what we claim
    assert (hdr.format_tag, hdr.bits, hdr.channels, hdr.samplerate) == (tag, bits, channels, sr)
    if ext:
        assert hdr.subformat == 1  # KSDATAFORMAT_SUBTYPE_PCM
    width = bits // 8
    raw = np.frombuffer(hdr.data, dtype=np.uint8).reshape(n, channels, width).astype(np.int64)
    stored = sum(raw[..., i] << (8 * i) for i in range(width))
    if bits == 8:
        stored = stored - 128  # 8-bit WAV is unsigned
    else:
        stored = np.where(stored >= full, stored - 2 * full, stored)
    np.testing.assert_array_equal(stored, k)

    y, got_sr = load(path)
    expected = (k / full).mean(axis=1)
    assert got_sr == sr and y.dtype == np.float32 and y.shape == (n,)
    np.testing.assert_allclose(y, expected, rtol=0, atol=2e-7)
    info = probe(path)
    assert (info.samplerate, info.channels, info.frames) == (sr, channels, n)


@pytest.mark.parametrize("subtype,ext,dtype", [("FLOAT", False, np.float32),
                                               ("FLOAT", True, np.float32),
                                               ("DOUBLE", False, np.float64)])
def test_float_wav_decodes_exactly(tmp_path, subtype, ext, dtype):
    rng = np.random.default_rng(3)
    x = rng.uniform(-0.9, 0.9, size=(2205, 2)).astype(dtype)
    path = write_wav(tmp_path / "f.wav", x, 22050, subtype, ext)
    hdr = read_wav_header(path)
    assert hdr.format_tag == (0xFFFE if ext else 3)
    assert hdr.bits == np.dtype(dtype).itemsize * 8
    stored = np.frombuffer(hdr.data, dtype="<f4" if dtype == np.float32 else "<f8")
    np.testing.assert_array_equal(stored.reshape(-1, 2), x)
    y, sr = load(path)
    np.testing.assert_allclose(y, x.astype(np.float64).mean(axis=1), rtol=0, atol=1e-7)
    assert sr == 22050


def test_shortest_urbansound_clip_survives_resampling(tmp_path):
    # 0.055 s is UrbanSound8K's shortest clip; at 8 kHz that is 440 samples
    sr = 8000
    t = np.arange(int(0.055 * sr)) / sr
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = write_wav(tmp_path / "short.wav", x, sr, "PCM_16")
    y = load_resampled(path, 48000)
    assert len(y) == int(round(len(x) * 48000 / sr))
    # the 440 Hz tone is still there after resampling: its energy dominates the spectrum
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / 48000)
    assert abs(freqs[spec.argmax()] - 440) < 48000 / len(y) * 2


def test_truncated_wav_is_refused_with_path_and_reason(tmp_path):
    path = write_wav(tmp_path / "cut.wav", np.zeros((48000, 2)), 48000, "PCM_24", True)
    assert wav_problem(path) is None
    truncate(path, 0.5)
    assert "truncated" in wav_problem(path)
    for reader in (load, probe):
        with pytest.raises(AudioError) as err:
            reader(path)
        assert str(path) in err.value.message and "truncated" in err.value.message
        assert "--skip-bad" in err.value.hint


@pytest.mark.parametrize("content,why", [(b"", "cannot"), (b"<html>not found</html>", "cannot"),
                                         (b"RIFF\x24\x00\x00\x00WAVEfmt ", "ends")])
def test_broken_files_are_refused(tmp_path, content, why):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError) as err:
        load(path)
    assert str(path) in err.value.message and why in err.value.message


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load(tmp_path / "nowhere.wav")


def test_streaming_header_sizes_are_accepted(tmp_path):
    # writers that cannot seek back leave 0xFFFFFFFF as the data size; the samples are all there
    path = write_wav(tmp_path / "s.wav", np.full(100, 0.25), 8000, "PCM_16")
    raw = bytearray(path.read_bytes())
    pos = raw.index(b"data")
    raw[pos + 4:pos + 8] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(raw))
    assert wav_problem(path) is None
    y, _ = load(path)
    np.testing.assert_allclose(y, 0.25, atol=1 / 32768)
