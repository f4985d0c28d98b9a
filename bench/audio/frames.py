"""Cutting a signal into the embedders' analysis windows (docs/protocol.md, "One run")."""

from __future__ import annotations

import numpy as np


def frame_count(n_samples: int, window: int, hop: int) -> int:
    """Number of windows: starts at 0, every ``hop``, the tail dropped, at least one.

    A clip shorter than one window is zero-padded to one window (docs/protocol.md), so a
    5 s clip at a 0.1 s hop with 1 s windows gives 41 windows and a 0.05 s clip gives 1.
    """
    if n_samples <= window:
        return 1
    return 1 + (n_samples - window) // hop


def frame_windows(y: np.ndarray, window: int, hop: int) -> np.ndarray:
    """Cut ``y`` into windows starting at 0 every ``hop`` samples, dropping the tail.

    A signal shorter than one window is zero-padded to exactly one window.

    Returns
    -------
    ndarray, shape (n_frames, window), float32
        A read-only strided view where no padding was needed, else a new array.
    """
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


def frame_centres(n_frames: int, hop_s: float, window_s: float | None) -> np.ndarray:
    """Time in seconds of each frame as event tasks place it: the centre of its window
    (``k * hop_s + window_s / 2``); a sequence embedder's frames (``window_s`` ``None``) at
    ``k * hop_s``, its nominal frame period."""
    return frame_times(n_frames, hop_s) + (0.0 if window_s is None else window_s / 2.0)
