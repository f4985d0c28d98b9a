"""Creating bench's default MLflow store (a SQLite file) so that a crash cannot leave it
half-made.

MLflow creates a new SQLite store by running some forty schema migrations one after another,
each committed on its own. A process killed (or a disk filling up) half-way used to leave a
``mlflow.db`` that every later command refused ("table ... already exists", a stray
``_alembic_tmp_...`` table) until the file was deleted by hand. Here the store is made complete
in a temporary file beside it and only then linked into place, so ``mlflow.db`` is either absent
or complete. A half-made store left by an older bench (or by MLflow itself) is recognised, moved
aside and made again: it cannot hold a run, and the runs' ``results.json`` files are the record
of truth (``bench track`` logs them again).

Two bench processes logging to one new store at once (two ``bench track``, a sweep and a run)
used to race: both created the store, or one met SQLite's "database is locked" half-way through
a run and reported it as not logged. :func:`store_lock` serialises them: whoever holds the lock
file beside the store creates it and logs a whole run; the other waits, then finds the store
made (and a run it was about to log already there).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Iterator

from bench.errors import TrackingError

_CREATING = ".creating-"
#: how long a process waits for another that holds the store's lock (logging one run takes
#: seconds; the kernel releases the lock of a process that died)
LOCK_TIMEOUT_S = 300.0
_LOCK_POLL_S = 0.05


@contextlib.contextmanager
def store_lock(db: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive lock on ``<db>.lock`` (beside the SQLite store) for the block.

    An advisory ``flock``: held by one process (or one open lock file) at a time, released
    when the block ends or its holder dies. Where the lock file cannot be made (a read-only
    folder, a system without ``fcntl``) the block runs unlocked, and the store itself reports
    what it cannot do.

    Raises
    ------
    TrackingError
        Another process held the lock for more than ``timeout_s`` seconds.
    """
    try:
        import fcntl
    except ImportError:
        fcntl = None
    lock = Path(db).with_name(Path(db).name + ".lock")
    fd = None
    if fcntl is not None:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            fd = None
    if fd is None:
        yield
        return
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TrackingError(
                        f"the MLflow store {db} stayed locked by another process for "
                        f"{timeout_s:.0f} s (lock file {lock.name})",
                        hint="wait until the other bench command has finished logging, then "
                             "run this one again; the results are saved anyway") from None
                time.sleep(_LOCK_POLL_S)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock


def ensure_store(db: Path, artifact_root: Path) -> str | None:
    """Make sure the SQLite store ``db`` exists and is complete; create it atomically if not.

    Parameters
    ----------
    db : Path
        The database file of a ``sqlite:///`` tracking URI.
    artifact_root : Path
        Artifact location of the store's default experiment.

    Returns
    -------
    str or None
        A note when a half-made store was found and set aside (the caller prints it).

    Raises
    ------
    TrackingError
        The store is at another schema version and holds runs (made by another MLflow), or it
        cannot be created (a read-only or full disk).
    """
    db = Path(db)
    note = None
    if db.exists():
        state = _state(db)
        if state == "complete":
            return None
        if state == "old":
            raise TrackingError(f"the MLflow store {db} was made by another MLflow version "
                                f"(its schema is not this MLflow's)",
                                hint=f"back it up, then run `mlflow db upgrade sqlite:///{db}`, "
                                     "or point --tracking-uri at a new store")
        aside = db.with_name(f"{db.name}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-journal", "-wal", "-shm"):
            part = db.with_name(db.name + suffix)
            if part.exists():
                os.replace(part, aside.with_name(aside.name + suffix))
        note = (f"the MLflow store {db} was half-made (its creation was interrupted); it was "
                f"moved to {aside.name} and made again. Runs are not lost: log earlier ones "
                f"with `bench track {db.parent}`")
    _create(db, artifact_root)
    return note


def _state(db: Path) -> str:
    """``complete``; ``half`` (creation interrupted: no runs in it); or ``old`` (another
    schema version, with runs)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
            version = None
            if "alembic_version" in tables:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                version = row[0] if row else None
            runs = (conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
                    if "runs" in tables else 0)
    except sqlite3.DatabaseError:
        return "half"  # not even a database (cut off while its first pages were written)
    if version == _head() and not any(t.startswith("_alembic_tmp") for t in tables):
        return "complete"
    return "old" if runs else "half"


def _head() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def _create(db: Path, artifact_root: Path) -> None:
    """Build a complete store in a temporary sibling, then link it to ``db`` (never over an
    existing file: a store another process made meanwhile wins)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(db)
        tmp = db.with_name(f".{db.name}{_CREATING}{os.getpid()}")
        tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise TrackingError(f"cannot create the MLflow store {db}: {exc.strerror or exc}",
                            hint="point --tracking-uri at a writable place, free some space, "
                                 "or pass --no-tracking; the run's results are saved anyway"
                            ) from exc
    uri = f"sqlite:///{tmp}"
    try:
        store = SqlAlchemyStore(uri, artifact_root.as_uri())
        store.engine.dispose()
        SqlAlchemyStore._engine_map.pop(uri, None)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, db)
    except Exception as exc:
        raise TrackingError(f"cannot create the MLflow store {db}: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}",
                            hint="free some space or point --tracking-uri elsewhere, then "
                                 f"`bench track {db.parent}`; the results are saved anyway"
                            ) from exc
    finally:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                tmp.with_name(tmp.name + suffix).unlink()


def _remove_stale(db: Path) -> None:
    """Remove temporary stores of creators that died (their process is gone)."""
    for p in db.parent.glob(f".{db.name}{_CREATING}*"):
        pid = p.name.rsplit(_CREATING, 1)[-1].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                p.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
