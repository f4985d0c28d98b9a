"""Opening a host's SQLite memo of audio checksums (WAL mode), with one-line errors; and
whether the store's folder may be written at all (a read-only store needs no index: its entry
files are the whole truth).

The index is a memo: an index this bench cannot use (a damaged file, or one of another schema
made by an older or newer bench on this host) is set aside as ``<host>.damaged-<time>`` with a
one-line warning and made anew; the cost is one more hash of each audio file.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
import warnings
from pathlib import Path

from bench.errors import CacheError

LOCK_WAIT_S = 60.0
#: the columns of ``audio``, in order; an index with others was made by another bench
AUDIO_COLUMNS = ("path", "size", "mtime_ns", "sha256", "checked")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audio (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL, checked REAL NOT NULL);
"""


class UnusableIndex(CacheError):
    """The index is damaged or of another schema (it is set aside and made anew)."""


def open_index(db_path: Path) -> tuple[sqlite3.Connection, Path | None]:
    """A connection to this host's index at ``db_path``, made when missing.

    Returns
    -------
    conn : sqlite3.Connection
    set_aside : Path or None
        Where an unusable index was moved before a new one was made (None: it was fine).
    """
    try:
        return _open_checked(db_path), None
    except UnusableIndex as exc:
        moved = db_path.with_suffix(f".damaged-{int(time.time())}")
        db_path.replace(moved)
        for extra in ("-wal", "-shm"):
            Path(f"{db_path}{extra}").unlink(missing_ok=True)
        warnings.warn(f"the store index {db_path} {exc.message}; moved to {moved.name} and "
                      f"made anew (it only remembers audio checksums: each file is hashed "
                      f"once more)", stacklevel=3)
        return _open_checked(db_path), moved


def _open_checked(db_path: Path) -> sqlite3.Connection:
    """:func:`connect`, the table made, and its columns checked against this bench's."""
    conn = None
    try:
        conn = connect(db_path)
        conn.executescript(_SCHEMA)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(audio)")]
    except (CacheError, sqlite3.DatabaseError) as exc:
        if conn is not None:
            conn.close()
        cause = exc.__cause__ if isinstance(exc, CacheError) else exc
        if isinstance(exc, sqlite3.OperationalError):  # read-only, full: not the file's fault
            raise CacheError(f"cannot write the store index {db_path}: {exc}",
                             hint="free disk space or pass a writable --cache-dir, and run "
                                  "again; finished clips are kept") from exc
        if not isinstance(cause, sqlite3.DatabaseError) or \
                isinstance(cause, sqlite3.OperationalError):
            raise  # locked for too long
        raise UnusableIndex(f"is damaged ({cause})") from exc
    if columns != list(AUDIO_COLUMNS):
        conn.close()
        raise UnusableIndex(f"is of another schema (columns {', '.join(columns)}; this bench "
                            f"keeps {', '.join(AUDIO_COLUMNS)})")
    return conn


def writable(folder: Path) -> bool:
    """Whether this process may create files in ``folder`` (False on a read-only file system
    or without write permission)."""
    return os.access(folder, os.W_OK)


def connect(db_path: Path) -> sqlite3.Connection:
    """A connection to the index at ``db_path``, switched to WAL mode (retrying while another
    process of this host holds the lock). A damaged file raises :class:`CacheError` whose
    cause is the ``sqlite3.DatabaseError``: the store sets it aside and starts anew."""
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
                             hint="delete it (it only remembers audio checksums)") from exc
