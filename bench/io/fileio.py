"""Files written whole or not at all, with ordinary permissions, and file checksums.

Every writer in bench that must never leave a half-written file behind (results, reports,
store entries, weights sidecars) goes through :func:`atomic_write_bytes`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

CHUNK = 1 << 20


def file_mode() -> int:
    """The mode a plain ``open()`` would give a new file (0666 less the umask); ``mkstemp``
    makes 0600 files, which would hide results from the rest of a group."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, payload: bytes, *, fsync: bool = True) -> None:
    """Write ``payload`` to ``path`` through a temporary sibling and a rename, so readers never
    see a half-written file and a crash leaves the previous version intact.

    ``fsync=False`` skips flushing to the disk (the embedding store checks every entry's
    checksum on load, so it trades durability for speed); ``OSError`` (a full disk) propagates
    after the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()
