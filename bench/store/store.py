"""The embedding store: content-addressed, resumable, verified, safe with several processes.

Layout (``<root>`` = ``--cache-dir`` / ``BENCH_CACHE_DIR``)::

    <root>/v1/index.sqlite             audio identities and stored entries (WAL mode)
    <root>/v1/<ns>/namespace.json      what the namespace means: embedder spec, framing, resampler
    <root>/v1/<ns>/<aa>/<audio>.npy    one clip's frames, (n_frames, dim) float32

A *namespace* is the hash of everything that changes the numbers except the audio: the embedder
spec (with its weights' sha256 and code version), window and hop, resampler and its version,
dtype and the store format. Inside it, a clip is addressed by the sha256 of its audio file's
bytes, so moving or renaming a dataset keeps its embeddings, and editing a file invalidates
them. An audio file's sha256 is remembered against its (path, size, mtime) so an unchanged file
is not read twice; ``verify`` re-hashes.

Every entry's sha256 is kept in the index and checked on load: a damaged or missing file is
reported as absent (and removed), so the run recomputes it. Files are written to a temporary
name and renamed, and the index row is written after the rename, so a killed run leaves either
a complete entry or none. Two processes filling one store at once may compute the same clip
twice but never corrupt it (rename is atomic; SQLite serialises the index).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from bench.errors import AudioError, CacheError
from bench.io.fileio import file_digest
from bench.store.format import (canonical, entry_path, namespace_key, npy_bytes, npy_from_bytes,
                                write_entry)
from bench.store.index import connect, writable
from bench.util.progress import bar

ORPHAN_AGE_S = 600.0
LAYOUT = "v1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audio (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL, checked REAL NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    ns TEXT NOT NULL, audio TEXT NOT NULL, n_frames INTEGER NOT NULL, dim INTEGER NOT NULL,
    nbytes INTEGER NOT NULL, sha256 TEXT NOT NULL, timestamps BLOB, source TEXT,
    created REAL NOT NULL, PRIMARY KEY (ns, audio));
CREATE TABLE IF NOT EXISTS namespaces (
    ns TEXT PRIMARY KEY, embedder TEXT NOT NULL, description TEXT NOT NULL, created REAL NOT NULL);
"""


@dataclass
class Entry:
    """One stored clip."""

    audio: str
    n_frames: int
    dim: int
    nbytes: int
    sha256: str
    source: str | None = None


@dataclass
class VerifyResult:
    """What :meth:`EmbeddingStore.verify` found and did."""

    entries_checked: int = 0
    entries_damaged: list[str] = field(default_factory=list)
    entries_missing: list[str] = field(default_factory=list)
    orphans_removed: int = 0
    audio_checked: int = 0
    audio_changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.entries_damaged or self.entries_missing or self.audio_changed)


class EmbeddingStore:
    """The store under ``root``.

    Parameters
    ----------
    root : Path
        Cache directory; created when missing.
    """

    def __init__(self, root: Path):
        self.root = Path(root).expanduser()
        self.base = self.root / LAYOUT
        try:
            self.base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create the embedding store at {self.base}: {exc}",
                             hint="pass a writable --cache-dir or set BENCH_CACHE_DIR") from exc
        self._db_path = self.base / "index.sqlite"
        self._conn: sqlite3.Connection | None = None
        #: on a read-only disk (a shared copy) the store is read, never written: identities
        #: are hashed without being remembered, and missing entries are an error
        self.read_only = not writable(self.base)
        self._ids: dict[tuple[str, int, int], str] = {}
        if not self.read_only:
            with self._db() as db:
                db.executescript(_SCHEMA)
        else:
            self._connect()

    # -- the index ---------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self._db_path, read_only=self.read_only)
        return self._conn

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            if "disk" in str(exc) or "full" in str(exc):
                raise CacheError(f"cannot write the store index: {exc}",
                                 hint="free disk space and run again; finished clips are kept"
                                 ) from exc
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- audio identity ------------------------------------------------------------------------
    def audio_id(self, path: Path) -> str:
        """sha256 of an audio file's bytes, from the index when (size, mtime) are unchanged."""
        path = Path(path).resolve()
        try:
            st = path.stat()
        except OSError as exc:
            raise AudioError(f"audio file not found: {path}",
                             hint="the dataset's files moved or were deleted: check --data-dir, "
                                  "run `bench data verify` on the dataset, fetch it again, or "
                                  "pass --skip-bad to go on without the missing clips",
                             reason="file not found") from exc
        with self._db() as db:
            row = db.execute("SELECT size, mtime_ns, sha256 FROM audio WHERE path=?",
                             (str(path),)).fetchone()
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return row[2]
        if self.read_only:
            mark = (str(path), st.st_size, st.st_mtime_ns)
            if mark not in self._ids:
                self._ids[mark] = file_digest(path)
            return self._ids[mark]
        digest = file_digest(path)
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO audio VALUES (?,?,?,?,?)",
                       (str(path), st.st_size, st.st_mtime_ns, digest, time.time()))
        return digest

    # -- namespaces ----------------------------------------------------------------------------
    def namespace(self, description: dict[str, Any]) -> "Namespace":
        """The namespace for ``description`` (see :func:`namespace_description`)."""
        key = namespace_key(description)
        ns = Namespace(self, key, description)
        if self.read_only:
            return ns
        ns.dir.mkdir(parents=True, exist_ok=True)
        meta = ns.dir / "namespace.json"
        if not meta.exists():
            write_entry(meta, (json.dumps(description, indent=2, sort_keys=True) + "\n")
                                .encode())
        with self._db() as db:
            db.execute("INSERT OR IGNORE INTO namespaces VALUES (?,?,?,?)",
                       (key, description["embedder"].get("name", "?"), canonical(description),
                        time.time()))
        return ns

    def namespaces(self) -> list[dict[str, Any]]:
        """One row per namespace: key, embedder, entries, bytes on disk."""
        with self._db() as db:
            rows = db.execute(
                "SELECT n.ns, n.embedder, n.created, COUNT(e.audio), COALESCE(SUM(e.nbytes), 0) "
                "FROM namespaces n LEFT JOIN entries e ON e.ns = n.ns GROUP BY n.ns "
                "ORDER BY n.created").fetchall()
        return [{"namespace": r[0], "embedder": r[1], "created": r[2], "entries": r[3],
                 "bytes": r[4]} for r in rows]

    # -- maintenance ---------------------------------------------------------------------------
    def verify(self, *, rehash_audio: bool = True, repair: bool = True,
               progress: bool = True) -> VerifyResult:
        """Check every entry's file against its sha256 and every audio identity against its file.

        With ``repair``, damaged or missing entries and stale audio identities are removed (the
        next run recomputes them), as are orphan files that no index row names.
        """
        result = VerifyResult()
        with self._db() as db:
            rows = db.execute("SELECT ns, audio, nbytes, sha256 FROM entries").fetchall()
        known = set()
        for ns, audio, nbytes, digest in bar(rows, desc="verify entries", unit="clip",
                                             enabled_=progress):
            path = entry_path(self.base / ns, audio)
            known.add(path)
            result.entries_checked += 1
            if not path.exists():
                result.entries_missing.append(str(path))
            elif path.stat().st_size != nbytes or file_digest(path) != digest:
                result.entries_damaged.append(str(path))
            else:
                continue
            if repair:
                self._remove_entry(ns, audio)
        if repair and not self.read_only:
            for ns_dir in self.base.iterdir():
                if not ns_dir.is_dir():
                    continue
                for f in ns_dir.glob("*/*"):
                    # leave young files alone: another process may be between rename and index
                    # row, or still writing its temporary file
                    young = time.time() - f.stat().st_mtime < ORPHAN_AGE_S
                    stray = (f.suffix == ".npy" and f not in known) or f.name.endswith(".tmp")
                    if stray and not young:
                        f.unlink(missing_ok=True)
                        result.orphans_removed += 1
        if rehash_audio:
            with self._db() as db:
                arows = db.execute("SELECT path, sha256 FROM audio").fetchall()
            for path, digest in bar(arows, desc="verify audio", unit="file", enabled_=progress):
                result.audio_checked += 1
                p = Path(path)
                if not p.exists() or file_digest(p) != digest:
                    result.audio_changed.append(path)
                    if repair and not self.read_only:
                        with self._db() as db:
                            db.execute("DELETE FROM audio WHERE path=?", (path,))
        return result

    def clear(self, namespace: str | None = None) -> int:
        """Remove every entry (or one namespace's, by key or unique prefix); return how many."""
        if self.read_only:
            raise CacheError(f"the embedding store at {self.root} is on a read-only disk; "
                             "nothing can be removed from it")
        with self._db() as db:
            if namespace is None:
                n = db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
                targets = [r[0] for r in db.execute("SELECT ns FROM namespaces")]
            else:
                targets = [r[0] for r in db.execute("SELECT ns FROM namespaces WHERE ns LIKE ?",
                                                    (namespace + "%",))]
                if len(targets) != 1:
                    raise CacheError(f"namespace prefix {namespace!r} matches {len(targets)} "
                                     f"namespaces, expected exactly one",
                                     hint="see `bench cache list` for the keys")
                n = db.execute("SELECT COUNT(*) FROM entries WHERE ns=?", (targets[0],)).fetchone()[0]
            for ns in targets:
                db.execute("DELETE FROM entries WHERE ns=?", (ns,))
                db.execute("DELETE FROM namespaces WHERE ns=?", (ns,))
                shutil.rmtree(self.base / ns, ignore_errors=True)
        return n

    def _remove_entry(self, ns: str, audio: str) -> None:
        if self.read_only:  # reported as absent; a read-only copy is not repaired
            return
        with self._db() as db:
            db.execute("DELETE FROM entries WHERE ns=? AND audio=?", (ns, audio))
        entry_path(self.base / ns, audio).unlink(missing_ok=True)


class Namespace:
    """The entries of one embedder configuration."""

    def __init__(self, store: EmbeddingStore, key: str, description: dict[str, Any]):
        self.store = store
        self.key = key
        self.description = description
        self.dir = store.base / key

    def path(self, audio: str) -> Path:
        return entry_path(self.dir, audio)

    def entries(self, audios: list[str]) -> dict[str, Entry]:
        """Index rows for the given audio ids (those that have one)."""
        out: dict[str, Entry] = {}
        with self.store._db() as db:
            for i in range(0, len(audios), 500):
                chunk = audios[i:i + 500]
                q = ("SELECT audio, n_frames, dim, nbytes, sha256, source FROM entries "
                     f"WHERE ns=? AND audio IN ({','.join('?' * len(chunk))})")
                for r in db.execute(q, (self.key, *chunk)):
                    out[r[0]] = Entry(*r)
        return out

    def missing(self, audios: list[str]) -> list[str]:
        """Audio ids with no index row or no file of the right size (not content-checked)."""
        have = self.entries(audios)
        out = []
        for a in audios:
            e = have.get(a)
            if e is None:
                out.append(a)
                continue
            try:
                ok = self.path(a).stat().st_size == e.nbytes
            except OSError:
                ok = False
            if not ok:
                out.append(a)
        return out

    def put(self, audio: str, emb: np.ndarray, timestamps: np.ndarray | None = None,
            source: str | None = None) -> None:
        """Store one clip's frames atomically (file, then index row)."""
        if self.store.read_only:
            raise CacheError(f"the embedding store at {self.store.root} is read-only and lacks "
                             f"embeddings of {source or audio} for this embedder",
                             hint="use it for runs it holds completely, or pass a writable "
                                  "--cache-dir (a copy of the store keeps what it holds)")
        emb = np.ascontiguousarray(emb, dtype=np.float32)
        if emb.ndim != 2:
            raise CacheError(f"embeddings must be 2-D (frames, dim), found shape {emb.shape}")
        path = self.path(audio)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = npy_bytes(emb)
        write_entry(path, payload)
        ts = None if timestamps is None else np.asarray(timestamps, np.float64).tobytes()
        with self.store._db() as db:
            db.execute("INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?,?,?,?)",
                       (self.key, audio, emb.shape[0], emb.shape[1], len(payload),
                        hashlib.sha256(payload).hexdigest(), ts, source, time.time()))

    def load(self, audio: str, entry: Entry | None = None) -> np.ndarray | None:
        """One clip's frames, or ``None`` when absent or damaged (a damaged entry is removed)."""
        if entry is None:
            entry = self.entries([audio]).get(audio)
            if entry is None:
                return None
        path = self.path(audio)
        try:
            payload = path.read_bytes()
        except OSError:
            self.store._remove_entry(self.key, audio)
            return None
        if len(payload) != entry.nbytes or hashlib.sha256(payload).hexdigest() != entry.sha256:
            self.store._remove_entry(self.key, audio)
            return None
        arr = npy_from_bytes(payload)
        if arr.shape != (entry.n_frames, entry.dim):
            self.store._remove_entry(self.key, audio)
            return None
        return arr

    def timestamps(self, audio: str) -> np.ndarray | None:
        with self.store._db() as db:
            row = db.execute("SELECT timestamps FROM entries WHERE ns=? AND audio=?",
                             (self.key, audio)).fetchone()
        if row is None or row[0] is None:
            return None
        return np.frombuffer(row[0], dtype=np.float64)
