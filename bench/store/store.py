"""The embedding store: content-addressed files, resumable, verified, shareable across hosts.

Layout (``<root>`` = ``--cache-dir`` / ``BENCH_CACHE_DIR``)::

    <root>/v2/<ns>/namespace.json     what the namespace means: embedder spec, framing, resampler
    <root>/v2/<ns>/<aa>/<entry>.npy   one clip's frames, (n_frames, dim) float32, then their
                                      start times (float64); the name is
                                      <audio>.<n_frames>x<dim>.<nbytes>.<sha256 of the file>
    <root>/v2/hosts/<host>.sqlite     this host's audio identities (a memo, WAL mode)

A *namespace* is the hash of everything that changes the numbers except the audio: the embedder
spec (with its weights' sha256 and code version), window and hop, resampler and its version,
dtype and the store format. Inside it, a clip is addressed by the sha256 of its audio file's
bytes, so moving or renaming a dataset keeps its embeddings, and editing a file invalidates
them.

The entry files are the whole truth: an entry's name carries its shape, size and the sha256 of
its bytes, so it verifies itself and no index has to agree with it. A file is written under a
temporary name and renamed, so a reader (on any host) sees a complete entry or none; a killed
writer leaves only a temporary file, which ``verify`` removes once it is old. Two writers of
one clip write the same name (same bytes) or two valid names (an embedder that is not
bit-reproducible across machines); readers then take the first name in sorted order, and
``verify`` removes the others. So the store needs only a filesystem with atomic rename within a
directory, which NFS and Lustre have.

The only SQLite file remembers each audio file's sha256 against its (path, size, mtime), so an
unchanged file is not read twice. It is per host (SQLite's WAL mode needs memory shared between
its processes, so one file must never be opened from two hosts), holds nothing that cannot be
recomputed (deleting it costs one re-hash of the audio), and paths are a host's own anyway.
Its trade-off: a file edited in place that keeps its size and mtime keeps its old sha256 (and
so its old embeddings and run id) until ``verify(rehash_audio=True)`` (``bench cache verify
--deep``) reads it again and drops the stale memo.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from bench.errors import AudioError, BenchError, CacheError
from bench.io.fileio import file_digest
from bench.io.records import read_json
from bench.store.format import Entry, namespace_key, npy_arrays, npy_bytes, write_entry
from bench.store.index import connect, open_index, writable
from bench.util.progress import bar

ORPHAN_AGE_S = 600.0
LAYOUT = "v2"
HOSTS_DIR = "hosts"
NAMESPACE_FILE = "namespace.json"


def host_name() -> str:
    """This host's name as it names its index file (``BENCH_STORE_HOST`` overrides it)."""
    name = os.environ.get("BENCH_STORE_HOST") or socket.gethostname() or "host"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100]


@dataclass
class VerifyResult:
    """What :meth:`EmbeddingStore.verify` found and did."""

    entries_checked: int = 0
    entries_damaged: list[str] = field(default_factory=list)
    orphans_removed: int = 0
    audio_checked: int = 0
    audio_changed: list[str] = field(default_factory=list)
    #: the audio files were read again (not only their size and mtime compared)
    audio_rehashed: bool = False

    @property
    def ok(self) -> bool:
        return not (self.entries_damaged or self.audio_changed)


class EmbeddingStore:
    """The store under ``root``.

    Parameters
    ----------
    root : Path
        Cache directory; created when missing.
    host : str, optional
        Names this host's audio-identity index (default :func:`host_name`).
    """

    def __init__(self, root: Path, host: str | None = None):
        self.root = Path(root).expanduser()
        self.base = self.root / LAYOUT
        #: on a read-only disk (a lab's shared copy) the store is read, never written: audio
        #: identities are hashed without being remembered, and missing entries are an error
        self.read_only = self.root.is_dir() and not writable(self._lowest_existing())
        self.index_path = self.base / HOSTS_DIR / f"{host or host_name()}.sqlite"
        self._conn: sqlite3.Connection | None = None
        self._ids: dict[tuple[str, int, int], str] = {}
        #: where a damaged index was moved before a new one was started (None: it was fine)
        self.damaged_index: Path | None = None
        if self.read_only:
            return
        try:
            (self.base / HOSTS_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create the embedding store at {self.base}: {exc}",
                             hint="pass a writable --cache-dir or set BENCH_CACHE_DIR") from exc
        self._conn, self.damaged_index = open_index(self.index_path)

    def _lowest_existing(self) -> Path:
        return self.base if self.base.is_dir() else self.root

    # -- this host's audio index -------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.index_path)
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

    def __getstate__(self) -> dict[str, Any]:
        # a store travels to worker processes as its root; each opens its own connection
        return {**self.__dict__, "_conn": None}

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
        if self.read_only:
            mark = (str(path), st.st_size, st.st_mtime_ns)
            if mark not in self._ids:
                self._ids[mark] = file_digest(path)
            return self._ids[mark]
        with self._db() as db:
            row = db.execute("SELECT size, mtime_ns, sha256 FROM audio WHERE path=?",
                             (str(path),)).fetchone()
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return row[2]
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
        meta = ns.dir / NAMESPACE_FILE
        if not meta.exists():
            write_entry(meta, (json.dumps(description, indent=2, sort_keys=True) + "\n")
                                .encode())
        return ns

    def _namespace_dirs(self) -> list[Path]:
        return sorted(d for d in self.base.iterdir()
                      if d.is_dir() and (d / NAMESPACE_FILE).is_file())

    def namespaces(self) -> list[dict[str, Any]]:
        """One row per namespace: key, embedder, entries, bytes on disk."""
        rows = []
        for d in self._namespace_dirs():
            meta = d / NAMESPACE_FILE
            try:
                embedder = read_json(meta, "a namespace's description")["embedder"]["name"]
            except (OSError, BenchError, LookupError, TypeError):
                embedder = "?"  # a listing names what it can
            entries = list(_entries_in(d))
            rows.append({"namespace": d.name, "embedder": embedder,
                         "created": meta.stat().st_mtime, "entries": len(entries),
                         "bytes": sum(e.nbytes for e in entries)})
        return sorted(rows, key=lambda r: r["created"])

    # -- maintenance ---------------------------------------------------------------------------
    def verify(self, *, rehash_audio: bool = True, repair: bool = True,
               progress: bool = True, check_audio: bool = True) -> VerifyResult:
        """Check every entry's bytes against the sha256 in its name and every audio identity of
        this host against its file.

        An audio identity is a memo keyed by (path, size, mtime): ``check_audio`` drops those
        whose file is gone or has another size or mtime; ``rehash_audio`` reads every file
        again, which also finds a file edited in place with its size and mtime kept (restored
        by a tool that keeps times), whose memo would otherwise name the old content.

        With ``repair``, damaged entries and stale audio identities are removed (the next run
        recomputes them), as are old temporary files of killed writers and second copies of a
        clip.
        """
        result = VerifyResult()
        repair = repair and not self.read_only  # a read-only copy is reported, not repaired
        files = [f for d in self._namespace_dirs() for f in d.glob("*/*") if f.is_file()]
        kept: dict[tuple[str, str], Path] = {}
        for f in bar(sorted(files), desc="verify entries", unit="file", enabled_=progress):
            entry = Entry.parse(f)
            try:
                old = time.time() - f.stat().st_mtime >= ORPHAN_AGE_S
            except OSError:
                continue  # removed meanwhile (another verify, or a rename)
            if entry is None:
                # a writer's temporary file; young ones may still be written
                if repair and old:
                    f.unlink(missing_ok=True)
                    result.orphans_removed += 1
                continue
            result.entries_checked += 1
            if not entry.intact_size() or file_digest(f) != entry.sha256:
                result.entries_damaged.append(str(f))
                if repair:
                    f.unlink(missing_ok=True)
                continue
            slot = (f.parent.parent.name, entry.audio)
            if slot in kept:  # sorted: the first copy is the one readers take
                if repair and old:
                    f.unlink(missing_ok=True)
                    result.orphans_removed += 1
            else:
                kept[slot] = f
        if (check_audio or rehash_audio) and not self.read_only:  # a read-only one has none
            result.audio_rehashed = rehash_audio
            with self._db() as db:
                arows = db.execute("SELECT path, size, mtime_ns, sha256 FROM audio").fetchall()
            for path, size, mtime_ns, digest in bar(arows, desc="verify audio", unit="file",
                                                    enabled_=progress):
                result.audio_checked += 1
                if not _same_audio(Path(path), size, mtime_ns, digest if rehash_audio else None):
                    result.audio_changed.append(path)
                    if repair:
                        with self._db() as db:
                            db.execute("DELETE FROM audio WHERE path=?", (path,))
        return result

    def clear(self, namespace: str | None = None) -> int:
        """Remove every entry (or one namespace's, by key or unique prefix); return how many."""
        if self.read_only:
            raise CacheError(f"the embedding store at {self.root} is on a read-only disk; "
                             "nothing can be removed from it")
        targets = self._namespace_dirs()
        if namespace is not None:
            targets = [d for d in targets if d.name.startswith(namespace)]
            if len(targets) != 1:
                raise CacheError(f"namespace prefix {namespace!r} matches {len(targets)} "
                                 f"namespaces, expected exactly one",
                                 hint="see `bench cache list` for the keys")
        n = 0
        for d in targets:
            n += len({e.audio for e in _entries_in(d)})
            shutil.rmtree(d, ignore_errors=True)
        return n


class Namespace:
    """The entries of one embedder configuration."""

    def __init__(self, store: EmbeddingStore, key: str, description: dict[str, Any]):
        self.store = store
        self.key = key
        self.description = description
        self.dir = store.base / key

    def path(self, audio: str) -> Path | None:
        """The file of ``audio``'s entry, ``None`` when there is none."""
        entry = self.entries([audio]).get(audio)
        return entry.path if entry is not None else None

    def entries(self, audios: list[str]) -> dict[str, Entry]:
        """The entries of the given audio ids that have one: the first file in name order whose
        size is right (its content is checked on load)."""
        by_bucket: dict[str, set[str]] = {}
        for a in audios:
            by_bucket.setdefault(a[:2], set()).add(a)
        out: dict[str, Entry] = {}
        for bucket, wanted in by_bucket.items():
            try:
                names = sorted(os.listdir(self.dir / bucket))
            except FileNotFoundError:
                continue
            for name in names:
                if name[:64] in wanted and name[:64] not in out:
                    entry = Entry.parse(self.dir / bucket / name)
                    # a file of the wrong size (truncated) is no entry: a later copy may be
                    if entry is not None and entry.intact_size():
                        out[entry.audio] = entry
        return out

    def missing(self, audios: list[str]) -> list[str]:
        """Audio ids with no entry of the right size (the content is checked on load)."""
        have = self.entries(audios)
        return [a for a in audios if a not in have]

    def put(self, audio: str, emb: np.ndarray, timestamps: np.ndarray | None = None,
            source: str | None = None) -> Entry:
        """Store one clip's frames (and their start times, when given) atomically: a temporary
        file renamed to the entry's name. The file is the frames' ``.npy`` bytes followed by
        the times' (float64), both covered by the sha256 in its name. ``source`` (the audio
        file) only names the clip in errors."""
        if self.store.read_only:
            raise CacheError(f"the embedding store at {self.store.root} is read-only and lacks "
                             f"embeddings of {source or audio} for this embedder",
                             hint="use it for runs it holds completely, or pass a writable "
                                  "--cache-dir (a copy of the store keeps what it holds)")
        emb = np.ascontiguousarray(emb, dtype=np.float32)
        if emb.ndim != 2:
            raise CacheError(f"embeddings must be 2-D (frames, dim), found shape {emb.shape}")
        payload = npy_bytes(emb)
        if timestamps is not None:
            payload += npy_bytes(np.ascontiguousarray(timestamps, dtype=np.float64))
        entry = Entry.of(self.dir, audio, emb.shape, payload)
        write_entry(entry.path, payload)
        return entry

    def load(self, audio: str, entry: Entry | None = None) -> np.ndarray | None:
        """One clip's frames, or ``None`` when absent or damaged (a damaged file is removed)."""
        arrays = self._read(audio, entry)
        return arrays[0] if arrays else None

    def timestamps(self, audio: str) -> np.ndarray | None:
        """Start times (s) of a clip's frames, when they were stored with them."""
        arrays = self._read(audio, None)
        return arrays[1] if arrays and len(arrays) > 1 else None

    def _read(self, audio: str, entry: Entry | None) -> list[np.ndarray] | None:
        if entry is None:
            entry = self.entries([audio]).get(audio)
            if entry is None:
                return None
        try:
            payload = entry.path.read_bytes()
        except OSError:
            return None
        if (len(payload) != entry.nbytes or _sha256(payload) != entry.sha256
                or npy_arrays(payload)[0].shape != (entry.n_frames, entry.dim)):
            if not self.store.read_only:  # reported as absent; a read-only copy is kept
                entry.path.unlink(missing_ok=True)
            return None
        arrays = npy_arrays(payload)
        return arrays


# -- helpers -------------------------------------------------------------------------------------
def _entries_in(ns_dir: Path) -> Iterator[Entry]:
    for f in ns_dir.glob("*/*.npy"):
        entry = Entry.parse(f)
        if entry is not None:
            yield entry


def _same_audio(path: Path, size: int, mtime_ns: int, digest: str | None) -> bool:
    """Whether an audio memo still holds: the file is there with its size and mtime (and, when
    ``digest`` is given, its bytes hash to it)."""
    try:
        st = path.stat()
    except OSError:
        return False
    if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
        return False
    return digest is None or file_digest(path) == digest


def _sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()
