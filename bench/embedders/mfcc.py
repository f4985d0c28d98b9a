"""A non-learned baseline: MFCC statistics per window, on the same 1 s / 0.1 s framing.

Per 1 s window at 16 kHz: 32 ms periodic-Hann frames every 10 ms (no centring), power
spectrum, 40 HTK mel bands (0-8 kHz, unit-area filters), dB, orthonormal DCT-II to 20
coefficients; the embedding is the mean and standard deviation over the window's frames of the
coefficients and of their first differences (80 values). It needs no weights, which makes it
the embedded default for the demo and the tests, and the floor a learned embedding must beat.
"""

from __future__ import annotations

import numpy as np

from bench.dsp import dct_matrix, mel_filterbank, periodic_hann
from bench.embedders.base import Embedder, EmbedderSpec

SR = 16000
N_FFT = 512
HOP = 160
N_MELS = 40
N_MFCC = 20


class MFCCEmbedder(Embedder):
    """MFCC mean/std (+ delta mean/std) per 1 s window; 80-d."""

    spec = EmbedderSpec(name="mfcc", sample_rate=SR, dim=4 * N_MFCC, window_s=1.0, hop_s=0.1,
                        version="mfcc-1",
                        options=(("n_fft", N_FFT), ("hop", HOP), ("n_mels", N_MELS),
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
        windows = np.asarray(windows, dtype=np.float32)
        n, length = windows.shape
        n_frames = 1 + (length - N_FFT) // HOP
        frames = np.lib.stride_tricks.as_strided(
            windows, shape=(n, n_frames, N_FFT),
            strides=(windows.strides[0], HOP * windows.strides[1], windows.strides[1]),
            writeable=False)
        spec = np.fft.rfft(frames * self._window, axis=-1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        mel_db = 10.0 * np.log10(np.maximum(power @ self._mel, 1e-10))
        mfcc = mel_db @ self._dct
        delta = np.diff(mfcc, axis=1)
        out = np.concatenate([mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1)], axis=1)
        return out.astype(np.float32)
