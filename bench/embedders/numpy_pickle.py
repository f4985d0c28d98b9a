"""The one allowlist for pickles of numpy arrays in weights files (numpy only).

A pickle can name any importable function and have it called; a weights file is read admitting
only the numpy names that rebuild arrays, so it cannot run other code. Both numpy 1 and numpy 2
module paths are listed (a file pickled under either loads under both).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

#: dtypes the released files hold (every plain float, int, uint and bool type)
_DTYPE_CODES = "fdeb?hilqBHILQ"


@functools.cache
def array_globals() -> dict[str, Any]:
    """Qualified name -> object of everything an array pickle may name (shared: do not change)."""
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar  # type: ignore[no-redef]
    allowed: dict[str, Any] = {"numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[f"{module}._reconstruct"] = _reconstruct
        allowed[f"{module}.scalar"] = scalar
    for code in _DTYPE_CODES:  # numpy 2 pickles a dtype through its class
        cls = type(np.dtype(code))
        allowed[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return allowed
