"""What the store's names and files are made of: namespace keys, entry files, .npy bytes.

An entry file's name says everything needed to check it without any index:
``<aa>/<audio sha256>.<n_frames>x<dim>.<nbytes>.<sha256 of the file>.npy``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
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


_ENTRY_NAME = re.compile(r"^(?P<audio>[0-9a-f]{64})\.(?P<n>\d+)x(?P<dim>\d+)\.(?P<nbytes>\d+)\."
                         r"(?P<sha>[0-9a-f]{64})\.npy$")


@dataclass(frozen=True)
class Entry:
    """One stored clip: its file and what the file's name says about it."""

    audio: str
    n_frames: int
    dim: int
    nbytes: int
    sha256: str
    path: Path

    @classmethod
    def parse(cls, path: Path) -> "Entry | None":
        """The entry a file's name describes, or ``None`` for any other file (a temporary)."""
        m = _ENTRY_NAME.match(path.name)
        if m is None:
            return None
        return cls(m["audio"], int(m["n"]), int(m["dim"]), int(m["nbytes"]), m["sha"], path)

    @classmethod
    def of(cls, ns_dir: Path, audio: str, shape: tuple[int, ...], payload: bytes) -> "Entry":
        """The entry that ``payload`` (the .npy bytes of an array of ``shape``) makes."""
        digest = hashlib.sha256(payload).hexdigest()
        name = f"{audio}.{shape[0]}x{shape[1]}.{len(payload)}.{digest}.npy"
        return cls(audio, shape[0], shape[1], len(payload), digest, ns_dir / audio[:2] / name)

    def intact_size(self) -> bool:
        """The file is there with the size its name says (the cheap check; load checks bytes)."""
        try:
            return self.path.stat().st_size == self.nbytes
        except OSError:
            return False


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def npy_arrays(payload: bytes) -> list[np.ndarray]:
    """The ``.npy`` arrays stored one after another in ``payload``."""
    buf = io.BytesIO(payload)
    out = []
    while buf.tell() < len(payload):
        out.append(np.lib.format.read_array(buf, allow_pickle=False))
    return out


def write_entry(path: Path, payload: bytes) -> None:
    try:
        atomic_write_bytes(path, payload, fsync=False)  # every entry is checksummed on load
    except OSError as exc:
        raise CacheError(f"cannot write {path}: {exc}",
                         hint="free disk space (or point --cache-dir elsewhere) and run the same "
                              "command again; finished clips are kept") from exc
