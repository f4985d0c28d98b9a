"""Audio in: decode (soundfile), downmix, resample, frame into windows.

This is the only place audio is read or reshaped; embedders receive ready windows (or whole
mono clips at their native rate). Decoding handles every PCM depth libsndfile reads (8/16/24/32
bit, float, WAVE_FORMAT_EXTENSIBLE) and FLAC; samples come out as float32 in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import AudioError

RESAMPLER_VERSION = "resampy-0.4"


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says."""

    samplerate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0


def probe(path: Path) -> AudioInfo:
    """Read an audio file's header; raise :class:`AudioError` naming the file if it cannot."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises its own error types, RuntimeError on old versions
        raise AudioError(f"cannot read audio file {path}: {_reason(exc)}") from exc
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), info.format,
                     info.subtype)


def load(path: Path) -> tuple[np.ndarray, int]:
    """Decode a file to mono float32 by averaging its channels.

    Returns
    -------
    waveform : ndarray, shape (n_samples,), float32
    samplerate : int

    Raises
    ------
    AudioError
        When the file is missing, unreadable, empty, or holds non-finite samples.
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"cannot decode audio file {path}: {_reason(exc)}") from exc
    if data.shape[0] == 0:
        raise AudioError(f"audio file {path} holds no samples")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(mono).all():
        raise AudioError(f"audio file {path} holds NaN or infinite samples")
    return np.ascontiguousarray(mono, dtype=np.float32), int(sr)


def resample(y: np.ndarray, sr_in: int, sr_out: int, method: str = "kaiser_best") -> np.ndarray:
    """Resample a mono signal with resampy (``kaiser_best`` as openl3 and torchvggish do)."""
    if sr_in == sr_out:
        return y.astype(np.float32, copy=False)
    import resampy

    out = resampy.resample(y.astype(np.float32, copy=False), sr_in, sr_out, filter=method, axis=-1)
    return np.ascontiguousarray(out, dtype=np.float32)


def load_resampled(path: Path, sr: int, method: str = "kaiser_best") -> np.ndarray:
    """Decode, downmix and resample to ``sr`` in one call."""
    y, sr_in = load(path)
    return resample(y, sr_in, sr, method)


def frame_windows(y: np.ndarray, window: int, hop: int) -> np.ndarray:
    """Cut ``y`` into windows starting at 0 every ``hop`` samples, dropping the tail.

    A signal shorter than one window is zero-padded to exactly one window.

    Returns
    -------
    ndarray, shape (n_frames, window), float32
        A read-only strided view where no padding was needed, else a new array.
    """
    from bench.embedders.base import frame_count

    if y.ndim != 1:
        raise ValueError(f"expected a mono signal, found shape {y.shape}")
    if len(y) < window:
        out = np.zeros((1, window), dtype=np.float32)
        out[0, : len(y)] = y
        return out
    n = frame_count(len(y), window, hop)
    return np.lib.stride_tricks.as_strided(
        y, shape=(n, window), strides=(hop * y.strides[0], y.strides[0]), writeable=False)


def frame_times(n_frames: int, hop_s: float) -> np.ndarray:
    """Start time in seconds of each window."""
    return np.arange(n_frames, dtype=np.float64) * hop_s


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.replace("\n", " ")
