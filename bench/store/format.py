"""What the store's names and files are made of: namespace keys, entry paths, .npy bytes."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import CacheError
from bench.io.fileio import atomic_write_bytes

STORE_FORMAT = 1


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def namespace_description(spec_dict: dict[str, Any], resampler: str, dtype: str = "float32"
                          ) -> dict[str, Any]:
    """Everything, apart from the audio, that changes an embedding's numbers."""
    if resampler.startswith("soxr"):
        import soxr as library
    else:
        import resampy as library

    return {"store_format": STORE_FORMAT, "embedder": spec_dict, "resampler": resampler,
            "resampler_version": ".".join(library.__version__.split(".")[:2]),
            "dtype": dtype,
            "framing": "windows start at 0, every hop, tail dropped, short clips zero-padded"}


def namespace_key(description: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(description).encode()).hexdigest()


def entry_path(ns_dir: Path, audio: str) -> Path:
    return ns_dir / audio[:2] / f"{audio}.npy"


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def npy_from_bytes(payload: bytes) -> np.ndarray:
    return np.lib.format.read_array(io.BytesIO(payload), allow_pickle=False)


def write_entry(path: Path, payload: bytes) -> None:
    try:
        atomic_write_bytes(path, payload, fsync=False)  # every entry is checksummed on load
    except OSError as exc:
        raise CacheError(f"cannot write {path}: {exc}",
                         hint="free disk space (or point --cache-dir elsewhere) and run the same "
                              "command again; finished clips are kept") from exc
