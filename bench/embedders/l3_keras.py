"""Read the OpenL3 audio weights from their Keras HDF5 files (h5py and numpy only).

A Keras weights file lists its layers in the root attribute ``layer_names`` (topological order,
layers without weights included) and, per layer group, the attribute ``weight_names`` giving the
order of that layer's arrays (``conv2d_7/kernel:0``, ``batch_normalization_16/gamma:0``, ...).
A whole-model file holds the same under a ``model_weights`` group. Layer names are numbered per
Keras session, so they differ between files: weights are matched by ORDER and checked by SHAPE,
never by name (as Keras' own ``load_weights`` does).

The audio subnetwork has 16 layers with weights, in this order: the input BatchNormalization
(1 channel), then (Conv2D, BatchNormalization) x 7, then the last Conv2D
(``audio_embedding_layer``). The ``-v0_2_0`` files have one more, first: the kapre 0.1.4
``Spectrogram`` layer (DFT kernels, real and imaginary, each ``(n_dft, 1, 1, n_dft/2+1)``) or
``Melspectrogram`` layer (the same plus the ``(n_dft/2+1, n_mels)`` frequency-to-mel matrix).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import WeightsError

#: (in, out) channels of the eight 3x3 convolutions
CONV_CHANNELS = ((1, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512),
                 (512, 512))

#: embedding max-pool sizes (freq, time) per input representation and dimension
POOL_SIZES = {
    "linear": {6144: (8, 8), 512: (32, 24)},
    "mel128": {6144: (4, 8), 512: (16, 24)},
    "mel256": {6144: (8, 8), 512: (32, 24)},
}


@dataclass
class L3Weights:
    """The arrays of one OpenL3 audio model, in Keras layout.

    Attributes
    ----------
    input_bn : tuple of 4 arrays
        gamma, beta, moving mean, moving variance of the input BatchNormalization, shape (1,).
    convs : list of (kernel, bias)
        Eight convolutions; kernel ``(3, 3, in, out)`` (height = frequency, width = time).
    bns : list of tuple of 4 arrays
        Seven BatchNormalizations after the first seven convolutions.
    frontend : dict or None
        ``{"real": (n_dft,1,1,n_freq), "imag": ..., "mel": (n_freq, n_mels) or absent}`` from a
        ``-v0_2_0`` file; ``None`` for a ``-v0_4_0`` file.
    layer_names : list of str
        Names of the layers the arrays came from (for messages only).
    """

    input_bn: tuple[np.ndarray, ...]
    convs: list[tuple[np.ndarray, np.ndarray]]
    bns: list[tuple[np.ndarray, ...]]
    frontend: dict[str, np.ndarray] | None
    layer_names: list[str]

    @property
    def frontend_size(self) -> tuple[int, int | None] | None:
        """``(n_dft, n_mels or None)`` of the frontend layer; ``None`` without one."""
        if self.frontend is None:
            return None
        mel = self.frontend.get("mel")
        return int(self.frontend["real"].shape[0]), (int(mel.shape[1]) if mel is not None
                                                     else None)

    @property
    def n_params(self) -> int:
        arrays = list(self.input_bn) + [a for c in self.convs for a in c] + \
            [a for b in self.bns for a in b]
        return int(sum(a.size for a in arrays))


def _text(values: Any) -> list[str]:
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in np.atleast_1d(values)]


#: [(layer name, [(weight name, array), ...]), ...] in file order
Layers = list[tuple[str, list[tuple[str, np.ndarray]]]]


def read_layers(path: Path) -> Layers:
    """Every layer with weights, in file order: ``[(layer_name, [(weight_name, array), ...])]``."""
    import h5py

    path = Path(path)
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise WeightsError(f"{path} is not a readable HDF5 file: {exc}",
                           hint="fetch or import the weights file again") from exc
    with fh:
        group = fh
        if "layer_names" not in group.attrs and "model_weights" in group:
            group = group["model_weights"]
        if "layer_names" not in group.attrs:
            raise WeightsError(f"{path} is HDF5 but not a Keras weights file (no 'layer_names')")
        layers = []
        for name in _text(group.attrs["layer_names"]):
            if name not in group:
                raise WeightsError(f"{path}: layer {name!r} is listed but has no group")
            lg = group[name]
            weight_names = _text(lg.attrs.get("weight_names", []))
            if not weight_names:
                continue
            try:
                arrays = [(w, np.asarray(lg[w], dtype=np.float32)) for w in weight_names]
            except KeyError as exc:
                raise WeightsError(f"{path}: layer {name!r} misses a listed weight: {exc}") from exc
            layers.append((name, arrays))
    return layers


def parse(layers: Layers, source: str = "file") -> L3Weights:
    """Assign the arrays of :func:`read_layers` to the network by order, checking every shape."""
    layers = list(layers)
    frontend = None
    if layers and _is_frontend(layers[0][1]):
        name, arrays = layers.pop(0)
        frontend = {"real": arrays[0][1], "imag": arrays[1][1]}
        if len(arrays) == 3:
            frontend["mel"] = arrays[2][1]
        n_dft, n_freq = frontend["real"].shape[0], frontend["real"].shape[3]
        if frontend["imag"].shape != frontend["real"].shape or n_freq != n_dft // 2 + 1:
            raise WeightsError(f"{source}: frontend layer {name!r} has DFT kernels of shapes "
                               f"{frontend['real'].shape} and {frontend['imag'].shape}")
        if "mel" in frontend and frontend["mel"].shape[0] != n_freq:
            raise WeightsError(f"{source}: frontend layer {name!r} has a mel matrix of shape "
                               f"{frontend['mel'].shape}, expected ({n_freq}, n_mels)")
    expected = 2 * len(CONV_CHANNELS)
    if len(layers) != expected:
        raise WeightsError(
            f"{source} has {len(layers)} layers with weights after the frontend; the L3-Net audio "
            f"subnetwork has {expected} (input BN, 7 x (conv, BN), last conv)",
            hint="is this an OpenL3 *audio* model file (openl3_audio_*.h5.gz)?")
    names = [n for n, _ in layers]
    input_bn = _bn(layers[0], 1, source)
    convs, bns = [], []
    for i, (cin, cout) in enumerate(CONV_CHANNELS):
        convs.append(_conv(layers[1 + 2 * i], cin, cout, source))
        if i < len(CONV_CHANNELS) - 1:
            bns.append(_bn(layers[2 + 2 * i], cout, source))
    return L3Weights(input_bn, convs, bns, frontend, names)


def _is_frontend(arrays: list[tuple[str, np.ndarray]]) -> bool:
    a = arrays[0][1]
    return len(arrays) in (2, 3) and a.ndim == 4 and a.shape[1:3] == (1, 1)


def _describe(arrays: list[tuple[str, np.ndarray]]) -> str:
    return ", ".join(f"{n} {tuple(a.shape)}" for n, a in arrays)


def _bn(layer: tuple[str, list[tuple[str, np.ndarray]]], channels: int,
        source: str) -> tuple[np.ndarray, ...]:
    name, arrays = layer
    if len(arrays) != 4 or any(a.shape != (channels,) for _, a in arrays):
        raise WeightsError(f"{source}: layer {name!r} should be a BatchNormalization of "
                           f"{channels} channels (gamma, beta, mean, variance), found "
                           f"{_describe(arrays)}")
    return tuple(a for _, a in arrays)


def _conv(layer: tuple[str, list[tuple[str, np.ndarray]]], cin: int, cout: int,
          source: str) -> tuple[np.ndarray, np.ndarray]:
    name, arrays = layer
    if len(arrays) != 2 or arrays[0][1].shape != (3, 3, cin, cout) or \
            arrays[1][1].shape != (cout,):
        raise WeightsError(f"{source}: layer {name!r} should be a 3x3 Conv2D {cin}->{cout} "
                           f"(kernel (3, 3, {cin}, {cout}), bias ({cout},)), found "
                           f"{_describe(arrays)}")
    return arrays[0][1], arrays[1][1]


def load(path: Path) -> L3Weights:
    """Read and check an OpenL3 audio weights file (``.h5``)."""
    return parse(read_layers(path), source=str(path))


def check_file(path: Path) -> dict[str, Any]:
    """Weights-manager check: the file is an OpenL3 audio model; say what it holds."""
    w = load(path)
    size = w.frontend_size
    return {"layers": len(w.layer_names), "parameters": w.n_params,
            "frontend": None if size is None else {"n_dft": size[0], "n_mels": size[1]}}


def conv_gflop(freq: int, time: int) -> float:
    """Multiply-adds x 2 of the network on a ``freq x time`` image, in GFLOP.

    Counted: every 3x3 convolution (2 * 9 * in * out per output cell) and bias; BatchNorm, ReLU
    and pooling (one operation per element, under 1 %) are not.
    """
    total = 0.0
    h, w = freq, time
    for i, (cin, cout) in enumerate(CONV_CHANNELS):
        total += h * w * cout * (2 * 9 * cin + 1)
        if i in (1, 3, 5):
            h, w = h // 2, w // 2
    return total / 1e9
