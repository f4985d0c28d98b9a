"""Opening a host's SQLite memo of audio checksums (WAL mode), with one-line errors; and
whether the store's folder may be written at all (a read-only store needs no index: its entry
files are the whole truth)."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path

from bench.errors import CacheError

LOCK_WAIT_S = 60.0


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
