"""The L3-Net audio subnetwork in PyTorch, loaded from the Keras arrays of :mod:`l3_keras`.

Input: a dB image ``(n, 1, freq, time)``. BatchNormalization of the input, then four blocks of
[3x3 'same' conv + bias -> BatchNorm -> ReLU] x 2 with 64, 128, 256 and 512 filters, a 2x2
max-pool (stride 2, floor) after blocks 1-3; the last conv (``audio_embedding_layer``) has no BN
and no ReLU. BatchNorm epsilon is Keras' 1e-3. The embedding is a max-pool with TensorFlow 'same'
padding (pool size = stride) and a flatten in channels-last order (frequency outermost, then
time, channels fastest) as Keras' ``Flatten`` does on an NHWC tensor.

Keras kernels are ``(kh, kw, in, out)`` and cross-correlate like PyTorch's, whose kernels are
``(out, in, kh, kw)``: a transposition, no flip.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from bench.audio.dsp import periodic_hann
from bench.embedders.l3_frontend import AMIN, DYNAMIC_RANGE, HOP, REPRS, mel_matrix, same_padding
from bench.embedders.l3_keras import CONV_CHANNELS, L3Weights

BN_EPS = 1e-3


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def same_pool(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Max-pool with kernel = stride = ``size`` and TensorFlow 'same' padding (pads are -inf)."""
    # F.pad takes the last dimension first: (time before, after, freq before, after)
    pads = [*same_padding(x.shape[-1], size[1], size[1]),
            *same_padding(x.shape[-2], size[0], size[0])]
    if any(pads):
        x = nn.functional.pad(x, pads, value=float("-inf"))
    return nn.functional.max_pool2d(x, size, size)


class L3AudioNet(nn.Module):
    """The audio subnetwork up to the pooled, flattened embedding.

    Parameters
    ----------
    pool_size : tuple of int
        Embedding max-pool size (freq, time); see :data:`POOL_SIZES`.
    """

    def __init__(self, pool_size: tuple[int, int]):
        super().__init__()
        self.pool_size = tuple(pool_size)
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        self.convs = nn.ModuleList(nn.Conv2d(cin, cout, 3, padding=1)
                                   for cin, cout in CONV_CHANNELS)
        self.bns = nn.ModuleList(nn.BatchNorm2d(cout, eps=BN_EPS) for _, cout in CONV_CHANNELS[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_bn(x)
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.bns):
                x = torch.relu(self.bns[i](x))
                if i in (1, 3, 5):
                    x = nn.functional.max_pool2d(x, 2, 2)
        x = same_pool(x, self.pool_size)
        return x.permute(0, 2, 3, 1).flatten(1)

    def load_keras(self, w: L3Weights) -> "L3AudioNet":
        """Copy the Keras arrays in (by order; shapes were checked when they were read)."""
        _set_bn(self.input_bn, w.input_bn)
        for conv, (kernel, bias) in zip(self.convs, w.convs):
            torch_kernel = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))  # (out, in, kh, kw)
            conv.weight.data.copy_(torch.from_numpy(torch_kernel))
            conv.bias.data.copy_(torch.from_numpy(bias))
        for bn, arrays in zip(self.bns, w.bns):
            _set_bn(bn, arrays)
        return self.eval()


def _set_bn(bn: nn.BatchNorm2d, arrays: tuple[np.ndarray, ...]) -> None:
    gamma, beta, mean, var = (torch.from_numpy(np.asarray(a, dtype=np.float32)) for a in arrays)
    bn.weight.data.copy_(gamma)
    bn.bias.data.copy_(beta)
    bn.running_mean.copy_(mean)
    bn.running_var.copy_(var)


class KapreFrontend(nn.Module):
    """Waveforms ``(n, samples)`` -> dB images ``(n, 1, freq, time)``.

    Parameters
    ----------
    input_repr : {"linear", "mel128", "mel256"}
    dft : tuple of ndarray, optional
        ``(real, imag)`` kernels ``(n_fft, n_freq)`` to use instead of the FFT (from a file whose
        kernels differ from the standard ones).
    mel : ndarray, optional
        ``(n_freq, n_mels)`` matrix to use instead of :func:`~l3_frontend.mel_matrix`.
    """

    def __init__(self, input_repr: str, dft: tuple[np.ndarray, np.ndarray] | None = None,
                 mel: np.ndarray | None = None):
        super().__init__()
        if input_repr not in REPRS:
            raise ValueError(f"unknown input representation {input_repr!r}")
        self.input_repr = input_repr
        self.n_fft, self.n_mels, self.padding = REPRS[input_repr]
        self.register_buffer("window", _tensor(periodic_hann(self.n_fft)))
        self.use_kernels = dft is not None
        if dft is not None:
            self.register_buffer("dft_real", _tensor(dft[0]))
            self.register_buffer("dft_imag", _tensor(dft[1]))
        if self.n_mels is not None:
            m = mel if mel is not None else mel_matrix(self.n_fft, self.n_mels)
            self.register_buffer("mel", _tensor(m))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "same":
            before, after = same_padding(x.shape[-1], self.n_fft, HOP)
            x = nn.functional.pad(x, (before, after))
        frames = x.unfold(-1, self.n_fft, HOP)  # (n, time, n_fft)
        if self.use_kernels:
            re, im = frames @ self.dft_real, frames @ self.dft_imag
            power = re * re + im * im
        else:
            spec = torch.fft.rfft(frames * self.window, dim=-1)
            power = spec.real.square() + spec.imag.square()
        if self.n_mels is None:
            value = power.sqrt()
        else:
            value = (power @ self.mel).sqrt()
        db = (10.0 / math.log(10.0)) * torch.log(torch.clamp(value, min=AMIN))
        db = db - db.amax(dim=(1, 2), keepdim=True)
        db = torch.clamp(db, min=-DYNAMIC_RANGE)
        return db.transpose(1, 2).unsqueeze(1)  # (n, 1, freq, time)
