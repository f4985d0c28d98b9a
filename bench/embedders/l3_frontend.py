"""The L3-Net input representations as the released models were trained (kapre 0.1.4).

All three take 1 s of mono audio at 48 kHz and give a dB image ``(freq, time)``:

* ``linear``: STFT with a periodic Hann window, n_fft 512, hop 242, no padding ('valid'):
  257 x 197; value ``|X|`` (magnitude);
* ``mel128`` / ``mel256``: STFT n_fft 2048, hop 242, TensorFlow 'same' padding (ceil(48000/242)
  = 199 frames, 982 zeros before and after); value ``sqrt(M |X|^2)`` with ``M`` the HTK-scale
  mel filterbank (fmin 0, fmax 24 kHz) with Slaney area normalisation: 128 or 256 x 199;
* dB as kapre 0.1.4: ``10 log10(max(v, 1e-10))`` minus its maximum over the whole example,
  floored at -80 (10, not 20, times the log of a magnitude: that is what the models saw).

This module holds the formulas (numpy only); :class:`bench.embedders.l3_net.KapreFrontend` runs
them in PyTorch, the STFT as an FFT. A ``-v0_2_0`` weights file carries the DFT kernels and the
mel matrix the model was trained with; :func:`matches_file` compares them with ours, and where
they differ the frontend uses the file's arrays directly (as matrix products).
"""

from __future__ import annotations

import numpy as np

SR = 48000
HOP = 242
REPRS = {
    # name: (n_fft, n_mels or None, padding)
    "linear": (512, None, "valid"),
    "mel128": (2048, 128, "same"),
    "mel256": (2048, 256, "same"),
}
AMIN = 1e-10
DYNAMIC_RANGE = 80.0


def hz_to_mel_htk(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz_htk(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """Triangular filters equally spaced on the HTK mel scale, Slaney area-normalised.

    Filter ``i`` rises from edge ``i`` to ``i + 1`` and falls to ``i + 2`` of ``n_mels + 2``
    edges equally spaced in mel between ``fmin`` and ``fmax`` (linear in Hz between its edges),
    then is scaled by ``2 / (f[i+2] - f[i])`` so every filter has the same area.

    Returns
    -------
    ndarray, shape (n_mels, n_fft // 2 + 1), float32
    """
    fmax = sr / 2.0 if fmax is None else fmax
    bins = np.arange(n_fft // 2 + 1, dtype=np.float64) * sr / n_fft
    edges = mel_to_hz_htk(np.linspace(hz_to_mel_htk(fmin), hz_to_mel_htk(fmax), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lo) / (mid - lo)
    falling = (hi - bins[None, :]) / (hi - mid)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= 2.0 / (hi - lo)
    return weights.astype(np.float32)


def periodic_hann(n: int) -> np.ndarray:
    """``0.5 - 0.5 cos(2 pi k / n)``, k = 0..n-1 (the DFT-even Hann window)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float64)


def same_padding(length: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'same' padding: ceil(length / stride) outputs, the odd sample after."""
    out = -(-length // stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


def dft_kernels(n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """Windowed DFT kernels as kapre builds them: ``(n_fft, n_fft//2+1)`` real and imaginary."""
    t = np.arange(n_fft)[:, None]
    k = np.arange(n_fft // 2 + 1)[None, :]
    w = periodic_hann(n_fft)[:, None]
    angle = 2.0 * np.pi * k * t / n_fft
    return (np.cos(angle) * w).astype(np.float32), (-np.sin(angle) * w).astype(np.float32)


def output_shape(input_repr: str, n_samples: int = SR) -> tuple[int, int]:
    """(freq, time) of the frontend's image for ``n_samples`` of audio."""
    n_fft, n_mels, padding = REPRS[input_repr]
    if padding == "same":
        frames = -(-n_samples // HOP)
    else:
        frames = (n_samples - n_fft) // HOP + 1
    return (n_mels or n_fft // 2 + 1), frames


def matches_file(input_repr: str, frontend: dict[str, np.ndarray]) -> dict[str, bool]:
    """Whether a file's frontend arrays (DFT kernels, mel matrix) equal ours in float32."""
    n_fft, n_mels, _ = REPRS[input_repr]
    real, imag = dft_kernels(n_fft)
    file_real = frontend["real"].reshape(frontend["real"].shape[0], -1)
    file_imag = frontend["imag"].reshape(frontend["imag"].shape[0], -1)
    out = {"dft": file_real.shape == real.shape
           and bool(np.allclose(file_real, real, atol=1e-5) and np.allclose(file_imag, imag,
                                                                             atol=1e-5))}
    if n_mels is not None:
        ours = mel_filterbank(SR, n_fft, n_mels).T
        mel = frontend.get("mel")
        out["mel"] = mel is not None and mel.shape == ours.shape and bool(
            np.allclose(mel, ours, rtol=1e-4, atol=1e-5 * float(np.abs(ours).max())))
    return out
