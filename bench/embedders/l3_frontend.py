"""The L3-Net input representations as the released models were trained (kapre 0.1.4).

All three take 1 s of mono audio at 48 kHz and give a dB image ``(freq, time)``:

* ``linear``: STFT with a periodic Hann window, n_fft 512, hop 242, no padding ('valid'):
  257 x 197; value ``|X|`` (magnitude);
* ``mel128`` / ``mel256``: STFT n_fft 2048, hop 242, TensorFlow 'same' padding (ceil(48000/242)
  = 199 frames, 982 zeros before and after); value ``sqrt(M |X|^2)`` with ``M`` the HTK-scale
  mel filterbank (fmin 0, fmax 24 kHz) with Slaney area normalisation: 128 or 256 x 199;
* dB as kapre 0.1.4: ``10 log10(max(v, 1e-10))`` minus its maximum over the whole example,
  floored at -80 (10, not 20, times the log of a magnitude: that is what the models saw).

This module holds the formulas (numpy only; the mel scale, filterbank and window from
:mod:`bench.audio.dsp`); :class:`bench.embedders.l3_net.KapreFrontend` runs
them in PyTorch, the STFT as an FFT. A ``-v0_2_0`` weights file carries the DFT kernels and the
mel matrix the model was trained with; :func:`matches_file` compares them with ours, and where
they differ the frontend uses the file's arrays directly (as matrix products).
"""

from __future__ import annotations

import numpy as np

from bench.audio.dsp import mel_filterbank, periodic_hann
from bench.errors import WeightsError

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


def mel_matrix(n_fft: int, n_mels: int) -> np.ndarray:
    """The frontend's mel matrix ``(n_fft // 2 + 1, n_mels)``, float32: triangular filters
    equally spaced on the HTK mel scale from 0 Hz to 24 kHz, Slaney area-normalised."""
    return mel_filterbank(SR, n_fft, n_mels, htk=True, slaney_norm=True).T.astype(np.float32)


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


def check_frontend(input_repr: str, n_dft: int, n_mels: int | None, source: str) -> None:
    """A ``-v0_2_0`` file's frontend layer must fit the model: the n_dft and mel bands of
    :data:`REPRS` (n_dft 512 for linear, 2048 and 128/256 bands for the mel models).

    Raises
    ------
    WeightsError
        Naming what ``source`` (a file, for the message) holds and what the model needs.
    """
    want_dft, want_mels, _ = REPRS[input_repr]
    if (n_dft, n_mels) != (want_dft, want_mels):
        raise WeightsError(f"{source}: its frontend layer has n_dft {n_dft} and n_mels {n_mels}; "
                           f"the {input_repr} model needs n_dft {want_dft} and n_mels {want_mels}",
                           hint="it is another OpenL3 model; use or import it for its own name")


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
        ours = mel_matrix(n_fft, n_mels)
        mel = frontend.get("mel")
        out["mel"] = mel is not None and mel.shape == ours.shape and bool(
            np.allclose(mel, ours, rtol=1e-4, atol=1e-5 * float(np.abs(ours).max())))
    return out
