"""Embedders with test-made weights for the benchmarks: seeded, well scaled, on any device.

Throughput and device parity do not depend on the weights' values, only on their being finite
and the activations staying in a sane range; so every network family is built here from a seed
(PyTorch's default initialisation, BatchNorm statistics drawn near mean 0 / variance 1) without
any weights file. :func:`seeded_embedder` builds one on the CPU, :func:`moved` gives a copy with
the same weights on another device and/or precision.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

#: family -> registry name used for it (VGGish: before PCA, whose parameters are files)
FAMILIES = {"l3-m256": "l3-m256-music", "l3-m128": "l3-m128-music",
            "l3-linear": "l3-linear-music", "vggish": "vggish-raw", "soundnet": "soundnet"}
L3_FAMILIES = ("l3-m256", "l3-m128", "l3-linear")


def _sane_bn(module: torch.nn.Module, gen: torch.Generator) -> None:
    for m in module.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = m.running_mean.shape[0]
            m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
            m.running_var.copy_(0.5 + torch.rand(n, generator=gen))


def seeded_embedder(family: str, seed: int = 0, precision: str = "float32"):
    """A ready CPU embedder of ``family`` with weights drawn from ``seed``."""
    from bench.embedders import create
    from bench.embedders.torch_util import place

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    e = create(FAMILIES[family], device="cpu", precision=precision)
    if family in L3_FAMILIES:
        from bench.embedders import l3_net

        e._frontend = place(l3_net.KapreFrontend(e.input_repr), "cpu", channels_last=False)
        net = l3_net.L3AudioNet(e.pool_size)
        with torch.no_grad():
            _sane_bn(net, gen)
        e._net = place(net, "cpu", channels_last=True)
    elif family == "vggish":
        from torchvggish.torchvggish import VGG, make_layers

        e._net = place(VGG(make_layers(), postprocess=False), "cpu", channels_last=True)
    elif family == "soundnet":
        from bench.embedders.soundnet_net import SoundNet8

        net = SoundNet8()
        with torch.no_grad():
            _sane_bn(net, gen)
        e._net = place(net, "cpu", channels_last=False)
    else:
        raise ValueError(f"unknown family {family!r}; known: {sorted(FAMILIES)}")
    e.spec = e.spec.replace(weights_sha256=f"test-made-seed{seed}-{family}")
    return e


def moved(e, device: str, precision: str):
    """A copy of a seeded embedder with the same weights on ``device`` in ``precision``."""
    from bench.embedders.torch_util import check_precision, place

    other = copy.copy(e)
    other.device = device
    other.precision = check_precision(precision, device)
    if getattr(e, "_frontend", None) is not None:
        other._frontend = place(copy.deepcopy(e._frontend).cpu(), device, channels_last=False)
    channels_last = not hasattr(e, "layer")  # SoundNet is 1-D
    other._net = place(copy.deepcopy(e._net).cpu(), device, channels_last=channels_last)
    return other


def test_input(e, n: int, seed: int = 1) -> np.ndarray:
    """``n`` windows (a 5 s clip per ``n`` for SoundNet) of noise plus tones in [-1, 1]."""
    rng = np.random.default_rng(seed)
    if e.spec.windowed:
        length = e.spec.window_samples
        t = np.arange(length) / e.spec.sample_rate
        tones = np.sin(2 * np.pi * rng.uniform(100, 4000, (n, 1)) * t)
        return (0.3 * tones + 0.05 * rng.standard_normal((n, length))).astype(np.float32)
    length = 5 * e.spec.sample_rate * n
    t = np.arange(length) / e.spec.sample_rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)
            + 0.05 * rng.standard_normal(length)).astype(np.float32)


def embed(e, x: np.ndarray) -> np.ndarray:
    """Embeddings of :func:`test_input`'s output (SoundNet: the frames of the one clip)."""
    if e.spec.windowed:
        return e.embed_windows(x)
    return e.embed_sequence(x)[0]


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference over the largest magnitude of the reference ``a``."""
    return float(np.abs(a.astype(np.float64) - b).max() / max(np.abs(a).max(), 1e-30))
