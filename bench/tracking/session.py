"""Where the MLflow store is, and how bench talks to it (settings made before mlflow loads)."""

from __future__ import annotations

import contextlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

from bench.errors import TrackingError
from bench.runs.config import check_tracking_uri
from bench.util.paths import default_dir

TRACKING_DB = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"
# Talking to a server that went away must fail in seconds, not after MLflow's default retry
# schedule (minutes). The user's own settings of these variables win.
# MLflow also prints two "View run" lines (and fetches the run again) for every run it ends;
# bench prints its own summary.
_HTTP_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
             "MLFLOW_HTTP_REQUEST_TIMEOUT": "30", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
_HEALTH_TIMEOUT_S = 5.0

def default_tracking_uri(results_dir: Path) -> str:
    """The default store: SQLite in ``results_dir`` (an absolute ``sqlite:////...`` URI)."""
    return "sqlite:///" + str(Path(results_dir).expanduser().resolve() / TRACKING_DB)


def resolve_tracking_uri(tracking_uri: str | None = None, results_dir: Path | None = None) -> str:
    """``tracking_uri`` if given, else ``MLFLOW_TRACKING_URI``, else the default SQLite store in
    ``results_dir`` (default: the results directory, ``BENCH_RESULTS_DIR``). An in-memory
    SQLite store, where nothing would persist, is a :class:`ConfigError`."""
    if tracking_uri:
        return check_tracking_uri(tracking_uri)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return check_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    if results_dir is None:
        results_dir = default_dir("results")
    return default_tracking_uri(results_dir)


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, or ``None`` for other stores."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri[len("sqlite:///"):]).expanduser().resolve()


def artifact_root(tracking_uri: str) -> Path | None:
    """Where artifacts of a local SQLite store go (next to the database); ``None`` when the store
    (a server) decides."""
    db = sqlite_path(tracking_uri)
    return None if db is None else db.parent / ARTIFACT_DIR


def is_server(tracking_uri: str) -> bool:
    return tracking_uri.startswith(("http://", "https://"))


def check_server(tracking_uri: str, timeout: float = _HEALTH_TIMEOUT_S) -> None:
    """Raise :class:`TrackingError` unless the MLflow server at ``tracking_uri`` answers."""
    url = tracking_uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            if resp.status == 200:
                return
            found = f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        found = f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        found = str(getattr(exc, "reason", exc))
    raise TrackingError(f"the MLflow server at {tracking_uri} does not answer ({found})",
                        hint="start it, or point --tracking-uri / MLFLOW_TRACKING_URI elsewhere")


@contextlib.contextmanager
def mlflow_session(uri: str) -> Iterator[None]:
    """Settings for talking to MLflow from bench, made before mlflow is imported."""
    # MLflow 3 sends usage telemetry to its developers unless told not to; bench does not do
    # that on its users' behalf (set MLFLOW_DISABLE_TELEMETRY=false to allow it)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    added = [k for k in _HTTP_ENV if k not in os.environ]
    for k in added:
        os.environ[k] = _HTTP_ENV[k]
    import mlflow  # noqa: F401 - configures its loggers on import; quieted below

    # mlflow and alembic announce database creation and migrations at INFO on stderr; a
    # `bench run` should print results, not that
    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    db = sqlite_path(uri)
    if db is not None:
        _fast_sqlite(db)
    try:
        yield
    finally:
        for lg, lvl in zip(loggers, levels):
            lg.setLevel(lvl)
        for k in added:
            os.environ.pop(k, None)


_FAST_SQLITE: set[str] = set()


def _fast_sqlite(db: Path) -> None:
    """Write bench's SQLite store without an fsync per transaction (PRAGMA synchronous=OFF).

    Logging one ESC-50-sized run takes a few hundred small transactions; with an fsync each
    that was seconds on a busy disk (benchmarks/tracking_overhead.py). An application crash
    still cannot corrupt the database; an OS crash or power cut in the middle of a write can,
    and then the store is rebuilt from the run directories with ``bench track``.
    ``BENCH_SQLITE_SYNC=1`` keeps SQLite's default.
    """
    if os.environ.get("BENCH_SQLITE_SYNC") == "1":
        return
    if not _FAST_SQLITE:
        import sqlite3

        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        @event.listens_for(Engine, "connect")
        def _pragma(dbapi_conn: Any, _record: Any) -> None:
            if not isinstance(dbapi_conn, sqlite3.Connection):
                return
            files = {os.path.realpath(row[2])
                     for row in dbapi_conn.execute("PRAGMA database_list") if row[2]}
            if files & _FAST_SQLITE:
                dbapi_conn.execute("PRAGMA synchronous=OFF")

    _FAST_SQLITE.add(os.path.realpath(db))
