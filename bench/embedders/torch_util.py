"""What every PyTorch embedder does the same way: device, precision, memory format, inference.

Precision is float32 unless the user asks for less, and the choice is part of the spec (so
embeddings computed in reduced precision are never mixed with float32 ones in the store).
``bfloat16`` runs the network under autocast (CPU or CUDA); ``float16`` only on CUDA. Frontends
(logarithms of spectra) always run in float32.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

from bench.errors import ConfigError

PRECISIONS = ("float32", "bfloat16", "float16")


def check_precision(precision: str, device: str) -> str:
    """Validate a precision name for a device (no torch import needed)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {list(PRECISIONS)}, found {precision!r}")
    if precision == "float16" and not device.startswith("cuda"):
        raise ConfigError("float16 needs a CUDA device; use bfloat16 on the CPU")
    return precision


def torch_device(device: str):
    """The torch device, with a clear error when CUDA is asked for but absent."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA device",
                          hint="use --device cpu")
    return torch.device(device)


def place(module, device: str, *, channels_last: bool):
    """Move a module to its device in eval mode; 2-D nets go channels-last (faster oneDNN/cuDNN)."""
    import torch

    module = module.to(torch_device(device)).eval()
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    for p in module.parameters():
        p.requires_grad_(False)
    return module


@contextlib.contextmanager
def autocast(device: str, precision: str) -> Iterator[None]:
    """Autocast to the reduced precision; for float32 on CUDA, IEEE float32 arithmetic.

    cuDNN convolutions use TF32 (a 10-bit mantissa) by default on Ampere and later GPUs, which
    moves embeddings by about 1e-3 relative: "float32" must mean float32 on every device, so
    TF32 is switched off while the network runs (and restored after).
    """
    import torch

    if precision == "float32":
        if not device.startswith("cuda"):
            yield
            return
        flags = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
        return
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}[precision]
    with torch.autocast("cuda" if device.startswith("cuda") else "cpu", dtype=dtype):
        yield


def as_tensor(array: np.ndarray, dtype: type = np.float32):
    """``array`` as a CPU tensor of ``dtype``, sharing its memory where it can.

    A copy is made only when ``array`` has another dtype, is not C-contiguous, or is read-only
    (the strided window views of :mod:`bench.audio.frames`, memory maps): ``torch.from_numpy``
    warns on read-only arrays, since the tensor could write to them."""
    import torch

    return torch.from_numpy(np.require(array, dtype, ["C_CONTIGUOUS", "WRITEABLE"]))
