"""Opening the store's SQLite index: WAL mode for a writable store, read-only for a store on a
read-only disk (a lab's shared copy), with one-line errors for everything else."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import tempfile
import time
import urllib.parse
from contextlib import closing
from pathlib import Path

from bench.errors import CacheError

LOCK_WAIT_S = 60.0


def writable(folder: Path) -> bool:
    """Whether this process may create files in ``folder`` (False on a read-only file system
    or without write permission)."""
    return os.access(folder, os.W_OK)


def connect(db_path: Path, *, read_only: bool) -> sqlite3.Connection:
    """A connection to the index at ``db_path``.

    A writable index is switched to WAL mode (retrying while another process holds the lock).
    A read-only one is opened ``immutable``: SQLite then takes no locks and writes no ``-wal``
    or ``-shm`` file, which a read-only folder could not hold; nobody can write to that disk,
    so nothing changes under the reader.
    """
    if read_only:
        return _connect_read_only(Path(db_path))
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            conn = sqlite3.connect(db_path, timeout=LOCK_WAIT_S, isolation_level=None,
                                   check_same_thread=False)
            # switching to WAL takes an exclusive lock that does not wait on the busy
            # timeout: another process opening the store at the same moment makes it
            # fail with "locked", which only means: try again
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise CacheError(f"cannot open the store index {db_path}: {exc}",
                                 hint="check that the cache directory is writable") from exc
            if time.monotonic() > deadline:
                raise CacheError(f"the store index {db_path} stayed locked for "
                                 f"{LOCK_WAIT_S:.0f} s", hint="another bench process holds it; "
                                 "wait for it or use another --cache-dir") from exc
            time.sleep(0.05 + 0.2 * random.random())
        except sqlite3.DatabaseError as exc:
            raise CacheError(f"the store index {db_path} is damaged: {exc}",
                             hint="move it away (the embeddings stay) and run again; entries "
                                  "are re-indexed as they are recomputed") from exc


def _connect_read_only(db_path: Path) -> sqlite3.Connection:
    if not db_path.is_file():
        raise CacheError(f"the embedding store at {db_path.parent} is read-only and has no "
                         f"index ({db_path.name})", hint="point --cache-dir at a writable "
                         "folder (bench fills it) or at a complete store")
    wal = db_path.with_name(db_path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        # an immutable open would not see what the WAL holds (a copy taken while a writer had
        # the store open): read a private copy of the index and its WAL instead
        db_path = _private_copy(db_path, wal)
    uri = "file:" + urllib.parse.quote(str(db_path.resolve())) + "?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT COUNT(*) FROM entries").fetchone()
    except sqlite3.DatabaseError as exc:
        raise CacheError(f"cannot read the read-only store index {db_path}: {exc}",
                         hint="point --cache-dir at a complete store or a writable folder"
                         ) from exc
    return conn


_COPIES: list[tempfile.TemporaryDirectory] = []  # removed when the process exits


def _private_copy(db_path: Path, wal: Path) -> Path:
    """The index with its WAL merged, in a temporary folder (an index is a few MB)."""
    tmp = tempfile.TemporaryDirectory(prefix="bench-store-index-")
    _COPIES.append(tmp)
    copy = Path(tmp.name) / db_path.name
    shutil.copyfile(db_path, copy)
    shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
    with closing(sqlite3.connect(copy)) as conn:  # merges the WAL into the copy
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    return copy
