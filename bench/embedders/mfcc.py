"""Non-learned baselines on the same 1 s / 0.1 s framing: MFCC statistics, and a weaker one.

Per 1 s window at 16 kHz: 32 ms periodic-Hann frames every 10 ms (no centring), power
spectrum, 40 HTK mel bands (0-8 kHz, unit-area filters), dB, orthonormal DCT-II to 20
coefficients; the embedding is the mean and standard deviation over the window's frames of the
coefficients and of their first differences (80 values). It needs no weights, which makes it
the embedded default for the demo and the tests, and the floor a learned embedding must beat.

``lowlevel`` is deliberately weak: the mean and standard deviation of six classic frame
descriptors (RMS level, zero-crossing rate, spectral centroid, bandwidth, 85 % roll-off and
flatness), 12 values per window. It shows how far a poor representation falls on a task.
"""

from __future__ import annotations

import numpy as np

from bench.audio.dsp import dct_matrix, mel_filterbank, periodic_hann
from bench.embedders import baseline_meta
from bench.embedders.base import Embedder

SR = baseline_meta.SAMPLE_RATE
N_FFT = 512
HOP = 160
N_MELS = 40
N_MFCC = 20


def _frames_power(windows: np.ndarray, hann: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """32 ms frames every 10 ms of each window, and their power spectra."""
    windows = np.ascontiguousarray(windows, dtype=np.float32)
    n, length = windows.shape
    n_frames = 1 + (length - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        windows, shape=(n, n_frames, N_FFT),
        strides=(windows.strides[0], HOP * windows.strides[1], windows.strides[1]),
        writeable=False)
    spec = np.fft.rfft(frames * hann, axis=-1)
    return frames, (spec.real ** 2 + spec.imag ** 2).astype(np.float32)


class MFCCEmbedder(Embedder):
    """MFCC mean/std (+ delta mean/std) per 1 s window; 80-d."""

    meta = baseline_meta.FAMILY.row("mfcc")
    spec = meta.spec("mfcc-1", options=(("n_fft", N_FFT), ("hop", HOP), ("n_mels", N_MELS),
                                        ("n_mfcc", N_MFCC)))
    default_batch_size = 256
    # rfft + mel + dct per frame, 97 frames per window
    gflop_per_window = 97 * (5 * N_FFT * np.log2(N_FFT) + 2 * 257 * N_MELS + 2 * N_MELS * N_MFCC) / 1e9

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._window = periodic_hann(N_FFT).astype(np.float32)
        self._mel = mel_filterbank(SR, N_FFT, N_MELS, 0.0, SR / 2, htk=True).T.astype(np.float32)
        self._dct = dct_matrix(N_MELS, N_MFCC).astype(np.float32)

    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        _, power = _frames_power(windows, self._window)
        mel_db = 10.0 * np.log10(np.maximum(power @ self._mel, 1e-10))
        mfcc = mel_db @ self._dct
        delta = np.diff(mfcc, axis=1)
        out = np.concatenate([mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1)], axis=1)
        return out.astype(np.float32)


class LowLevelEmbedder(Embedder):
    """Six frame descriptors, mean and std per 1 s window; 12-d, deliberately weak."""

    meta = baseline_meta.FAMILY.row("lowlevel")
    spec = meta.spec("lowlevel-1", options=(("n_fft", N_FFT), ("hop", HOP)))
    default_batch_size = 256
    gflop_per_window = 97 * 5 * N_FFT * np.log2(N_FFT) / 1e9

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._window = periodic_hann(N_FFT).astype(np.float32)
        self._freqs = np.fft.rfftfreq(N_FFT, 1.0 / SR).astype(np.float32)

    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        frames, power = _frames_power(windows, self._window)
        eps = 1e-10
        rms = np.sqrt(np.mean(frames ** 2, axis=-1))  # frames are float32 already
        signs = np.signbit(frames)
        zcr = np.mean(signs[..., 1:] != signs[..., :-1], axis=-1)
        total = power.sum(-1) + eps
        centroid = (power * self._freqs).sum(-1) / total
        bandwidth = np.sqrt((power * (self._freqs - centroid[..., None]) ** 2).sum(-1) / total)
        rolloff = self._freqs[np.argmax(np.cumsum(power, -1) >= 0.85 * total[..., None], axis=-1)]
        flatness = np.exp(np.mean(np.log(power + eps), -1)) / (np.mean(power, -1) + eps)
        feats = np.stack([20 * np.log10(rms + 1e-5), zcr, centroid / 1000, bandwidth / 1000,
                          rolloff / 1000, flatness], axis=-1)
        return np.concatenate([feats.mean(1), feats.std(1)], axis=1).astype(np.float32)
