"""Read and check the two VGGish files of the torchvggish v0.1 release.

``vggish-10086976.pth`` is a PyTorch state dict of torchvggish's ``VGG`` module (its
``features`` convolutions and ``embeddings`` linear layers); ``vggish_pca_params-970ea276.pth``
is a ``torch.save``'d dict with ``pca_eigen_vectors`` (128 x 128) and ``pca_means`` (128),
stored as numpy arrays. Both load with ``weights_only=True``; numpy arrays are allowed by naming
exactly the numpy functions their pickles use, so no other code can run from a file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from bench.embedders.numpy_pickle import array_globals
from bench.errors import WeightsError

#: key -> shape of torchvggish's VGG state dict (features = VGG convs, embeddings = 3 FCs)
STATE_SHAPES: dict[str, tuple[int, ...]] = {}
for _i, (_cin, _cout) in zip((0, 3, 6, 8, 11, 13),
                             ((1, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512))):
    STATE_SHAPES[f"features.{_i}.weight"] = (_cout, _cin, 3, 3)
    STATE_SHAPES[f"features.{_i}.bias"] = (_cout,)
for _i, (_fin, _fout) in zip((0, 2, 4), ((512 * 4 * 6, 4096), (4096, 4096), (4096, 128))):
    STATE_SHAPES[f"embeddings.{_i}.weight"] = (_fout, _fin)
    STATE_SHAPES[f"embeddings.{_i}.bias"] = (_fout,)


def torch_load(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``, numpy arrays allowed; errors as WeightsError."""
    import torch

    try:
        allowed = [(obj, name) for name, obj in array_globals().items()]
        with torch.serialization.safe_globals(allowed):
            return torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip and runtime errors alike
        refused = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if refused:
            # torch's own message suggests weights_only=False, which would run the file's code:
            # bench never does that, so it says what the file asked for instead
            raise WeightsError(f"{path} asks to run Python code ({refused.group(1)}) when "
                               f"loaded, which a weights file never needs; it was refused and "
                               f"nothing in it ran",
                               hint="do not use this file; fetch the official one "
                                    "(`bench weights fetch vggish`) or import a trusted copy"
                               ) from None
        raise WeightsError(f"cannot read {path} as a PyTorch file: {str(exc).splitlines()[0]}",
                           hint="fetch or import the file again") from exc


def load_state(path: Path) -> dict[str, Any]:
    """The VGGish state dict, every key and shape checked."""
    state = torch_load(path)
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a VGGish state dict")
    missing = sorted(set(STATE_SHAPES) - set(state))
    extra = sorted(set(state) - set(STATE_SHAPES))
    if missing or extra:
        raise WeightsError(f"{path} is not a torchvggish VGGish state dict: missing {missing}, "
                           f"unexpected {extra}")
    for key, shape in STATE_SHAPES.items():
        if tuple(state[key].shape) != shape:
            raise WeightsError(f"{path}: {key} has shape {tuple(state[key].shape)}, expected "
                               f"{shape}")
    return state


def load_pca(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(eigen_vectors (128, 128), means (128,))`` as float64, checked."""
    params = torch_load(path)
    if not isinstance(params, dict) or not {"pca_eigen_vectors", "pca_means"} <= set(params):
        raise WeightsError(f"{path} is not the VGGish PCA file (expected a dict with "
                           f"pca_eigen_vectors and pca_means)")
    vectors = np.asarray(params["pca_eigen_vectors"], dtype=np.float64)
    means = np.asarray(params["pca_means"], dtype=np.float64).reshape(-1)
    if vectors.shape != (128, 128) or means.shape != (128,):
        raise WeightsError(f"{path}: PCA shapes {vectors.shape} and {means.shape}, expected "
                           f"(128, 128) and (128,)")
    return vectors, means


def check_state_file(path: Path) -> dict[str, Any]:
    state = load_state(path)
    return {"tensors": len(state), "parameters": int(sum(v.numel() for v in state.values()))}


def check_pca_file(path: Path) -> dict[str, Any]:
    vectors, _ = load_pca(path)
    return {"pca": list(vectors.shape)}
