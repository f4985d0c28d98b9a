"""Small signal-processing pieces shared by frontends: mel scales and filterbanks, DCT.

Written from the formulas (HTK: ``mel = 2595 log10(1 + f/700)``; Slaney: linear below 1 kHz,
logarithmic above) so they can be checked against librosa without depending on it.
"""

from __future__ import annotations

import numpy as np


def hz_to_mel(f: np.ndarray | float, htk: bool = True) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep,
                    f / f_sp)


def mel_to_hz(m: np.ndarray | float, htk: bool = True) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                   fmax: float | None = None, htk: bool = True, slaney_norm: bool = True
                   ) -> np.ndarray:
    """Triangular mel filters, shape (n_mels, 1 + n_fft // 2).

    Parameters
    ----------
    htk : bool
        HTK mel scale (else Slaney's).
    slaney_norm : bool
        Scale each filter to unit area (``2 / (f_high - f_low)``), librosa's ``norm='slaney'``.
    """
    fmax = sr / 2.0 if fmax is None else fmax
    fft_freqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    mel_pts = np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2)
    hz_pts = mel_to_hz(mel_pts, htk)
    fdiff = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if slaney_norm:
        weights *= (2.0 / (hz_pts[2:] - hz_pts[:-2]))[:, None]
    return weights


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II as a matrix, shape (n_in, n_out): ``x @ D`` gives the first ``n_out``
    coefficients."""
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None, :]
    D = np.cos(np.pi / n_in * (n + 0.5) * k) * np.sqrt(2.0 / n_in)
    D[:, 0] /= np.sqrt(2.0)
    return D


def periodic_hann(n: int) -> np.ndarray:
    """Hann window of length ``n``, periodic (the DFT-even form used for spectral analysis)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
