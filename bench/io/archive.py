"""Safe extraction of ``.zip`` and ``.tar[.gz|.bz2|.xz]`` archives.

An archive is unpacked into a temporary folder next to its destination and its top-level
entries are renamed into place only once every member is written, each with a completion marker
inside. A folder in its final place is therefore never half-extracted; an interrupted
extraction leaves only the temporary folder, which the next attempt removes. Member names are
checked before anything is written: absolute paths, ``..`` components, drive letters, links,
device files and a name given twice refuse the whole archive.

Decompression bombs are refused too: the whole archive may unpack to at most ``max_ratio`` times
its own size (default 10, environment variable ``BENCH_MAX_UNPACK_RATIO``; audio hardly
compresses, so real datasets unpack to 1-2 times their archive), and no zip member may be
compressed more than that. Sizes are checked as declared before a member is written (a sparse
tar member declares its full size) and counted while it is written.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterable

from bench.errors import DownloadError
from bench.util.progress import bar

#: written inside every top-level folder once it is completely extracted
MARKER = ".bench-extracted"
#: top-level names that archivers add and nobody wants (macOS resource forks, Finder files)
JUNK = ("__MACOSX", ".DS_Store")
_CHUNK = 1 << 20
#: how many times its own size an archive may unpack to (documented in docs/datasets.md)
MAX_RATIO_ENV = "BENCH_MAX_UNPACK_RATIO"
DEFAULT_MAX_RATIO = 10.0
#: a small archive may unpack to this much whatever its ratio (metadata, test files)
_SLACK = 16 << 20


def max_ratio() -> float:
    """The unpack ratio limit: ``BENCH_MAX_UNPACK_RATIO`` or :data:`DEFAULT_MAX_RATIO`."""
    raw = os.environ.get(MAX_RATIO_ENV)
    if not raw:
        return DEFAULT_MAX_RATIO
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= 1 or value == float("inf"):
        raise DownloadError(f"{MAX_RATIO_ENV} must be a number >= 1, found {raw!r}")
    return value


class _Budget:
    """What an archive may still write: total bytes, per-member compression ratio, one name
    once."""

    def __init__(self, archive: Path, ratio: float, limit: int | None):
        self.archive, self.ratio = archive, ratio
        self.limit = limit if limit is not None else int(archive.stat().st_size * ratio) + _SLACK
        self.declared = self.written = 0
        self.names: set[str] = set()

    def member(self, name: str, rel: PurePosixPath, size: int, packed: int | None = None) -> None:
        key = rel.as_posix()
        if key in self.names:
            raise DownloadError(f"{self.archive.name} holds {name!r} twice (the last copy would "
                                "silently win); nothing was extracted",
                                hint="do not use this archive; download it again")
        self.names.add(key)
        if packed is not None and size > packed * self.ratio + _CHUNK:
            raise self._bomb(f"its member {name!r} is compressed {size / max(packed, 1):.0f} "
                             f"times")
        self.declared += size
        if self.declared > self.limit:
            raise self._bomb(f"its members declare more than {_human(self.limit)}")

    def wrote(self, n: int) -> None:
        self.written += n
        if self.written > self.limit:
            raise self._bomb(f"it unpacks to more than {_human(self.limit)}")

    def _bomb(self, what: str) -> DownloadError:
        return DownloadError(f"{self.archive.name} is refused as a decompression bomb: {what} "
                             f"(limit: {self.ratio:g} times the archive's "
                             f"{_human(self.archive.stat().st_size)}); nothing was extracted",
                             hint=f"if the archive is genuine, raise the limit with "
                                  f"{MAX_RATIO_ENV}=N (default {DEFAULT_MAX_RATIO:g})")


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` was fully extracted by :func:`extract` (its marker is there)."""
    return (Path(folder) / MARKER).is_file()


def extract(archive: Path, dest_dir: Path, *, expect: Iterable[str] = (), wrap: str | None = None,
            replace: bool = False, progress: bool = True, max_bytes: int | None = None
            ) -> list[Path]:
    """Unpack ``archive`` into ``dest_dir`` safely and atomically.

    Parameters
    ----------
    archive : Path
        A zip file or a (compressed) tar file.
    dest_dir : Path
        Where its top-level entries end up.
    expect : iterable of str
        Top-level names the archive must contain (checked before anything is moved into place).
    wrap : str, optional
        Put the archive's content into a folder of this name unless its top level is already
        exactly that folder (archives made from a folder's content, not from the folder).
    replace : bool
        Replace top-level entries that already exist in ``dest_dir``; otherwise their presence
        is an error.
    progress : bool
        Show a bar with rate and ETA.
    max_bytes : int, optional
        Most bytes the archive may unpack to; default :func:`max_ratio` times its size.

    Returns
    -------
    list of Path
        The top-level entries now in ``dest_dir``.

    Raises
    ------
    DownloadError
        The archive is damaged or unsafe (a member escapes the destination, is a link or a
        device), lacks an expected entry, a destination entry exists, or the disk is full.
        Nothing in ``dest_dir`` is changed then.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    if not archive.is_file():
        raise DownloadError(f"no archive at {archive}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest_dir / f".{archive.name}.extracting"
    if tmp.exists():  # left by an interrupted attempt
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        budget = _Budget(archive, max_ratio(), max_bytes)
        if zipfile.is_zipfile(archive):
            count = _extract_zip(archive, tmp, progress, budget)
        elif tarfile.is_tarfile(archive):
            count = _extract_tar(archive, tmp, progress, budget)
        else:
            raise DownloadError(f"{archive} is neither a zip nor a tar archive",
                                hint="delete it and download it again")
        tops = _tops(tmp)
        if wrap and [p.name for p in tops] != [wrap]:
            inner = tmp / f".{wrap}.wrap"
            inner.mkdir()
            for p in tops:
                os.replace(p, inner / p.name)
            os.replace(inner, tmp / wrap)
            tops = _tops(tmp)
        names = [p.name for p in tops]
        missing = [e for e in expect if e not in names]
        if missing:
            raise DownloadError(f"{archive.name} does not hold {missing}; its top level holds "
                                f"{names}", hint="this is not the expected archive; delete it "
                                                 "and download it again")
        clash = [dest_dir / n for n in names if (dest_dir / n).exists()]
        if clash and not replace:
            raise DownloadError(f"{clash[0]} already exists; extracting {archive.name} would "
                                "overwrite it", hint="move it away, or replace it on purpose")
        info = {"archive": archive.name, "archive_bytes": archive.stat().st_size,
                "members": count}
        for top in tops:
            if top.is_dir():
                (top / MARKER).write_text(json.dumps(info) + "\n", encoding="utf-8")
        placed = []
        for top in tops:
            target = dest_dir / top.name
            if target.exists() or target.is_symlink():
                old = dest_dir / f".{top.name}.replaced"
                if old.exists():
                    _remove(old)
                os.replace(target, old)
                os.replace(top, target)
                _remove(old)
            else:
                os.replace(top, target)
            placed.append(target)
        return placed
    except OSError as exc:
        raise DownloadError(f"extracting {archive} into {dest_dir} failed: {exc}",
                            hint="free some disk space (the archive unpacks to about "
                                 "its own size or more) and run the same command again") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _tops(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name not in JUNK and not p.name.startswith("._"))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def safe_member_path(name: str, archive: Path) -> PurePosixPath:
    """The relative path a member name stands for; refuse anything that leaves the folder."""
    unified = name.replace("\\", "/")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    bad = (unified.startswith("/") or (len(unified) > 1 and unified[1] == ":")
           or ".." in parts or not parts)
    if bad:
        raise DownloadError(f"{archive.name} holds an unsafe member name {name!r} (it would be "
                            "written outside the destination folder); nothing was extracted",
                            hint="do not use this archive; download it again from the "
                                 "official source")
    return PurePosixPath(*parts)


def _extract_zip(archive: Path, dest: Path, progress: bool, budget: _Budget) -> int:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DownloadError(f"{archive} is not a readable zip file: {exc}",
                            hint="delete it and download it again") from exc
    with zf:
        members = zf.infolist()
        for m in members:  # check every name before writing anything
            safe_member_path(m.filename, archive)
            kind = stat.S_IFMT(m.external_attr >> 16)  # 0 when the zip gives no Unix mode
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise DownloadError(f"{archive.name} holds {m.filename!r}, which is a link or "
                                    "a special file; nothing was extracted",
                                    hint="do not use this archive; download it again")
            if not m.is_dir():
                budget.member(m.filename, safe_member_path(m.filename, archive), m.file_size,
                              m.compress_size)
        total = sum(m.file_size for m in members)
        with bar(total=total, desc=f"extract {archive.name}", unit="B", unit_scale=True,
                 enabled_=progress) as pbar:
            for m in members:
                target = dest.joinpath(*safe_member_path(m.filename, archive).parts)
                if m.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with zf.open(m) as src, open(target, "wb") as out:
                        for chunk in iter(lambda: src.read(_CHUNK), b""):
                            budget.wrote(len(chunk))
                            out.write(chunk)
                            pbar.update(len(chunk))
                except (zipfile.BadZipFile, EOFError, ValueError) as exc:  # bad CRC, cut file
                    raise DownloadError(f"{archive} is damaged at member {m.filename!r}: {exc}",
                                        hint="delete it and download it again") from exc
                _set_mtime(target, _zip_time(m))
    return len(members)


def _zip_time(m: zipfile.ZipInfo) -> float | None:
    import time

    try:
        return time.mktime(m.date_time + (0, 0, -1))
    except (OverflowError, ValueError):
        return None


def _set_mtime(path: Path, mtime: float | None) -> None:
    # the archive's times, so that a re-extracted file keeps its identity (size + mtime) for
    # the embedding store and is not recomputed
    if mtime is not None:
        try:
            os.utime(path, (mtime, mtime))
        except (OSError, OverflowError):
            pass


class _Counting:
    """A read-only file wrapper that counts bytes read (progress over a compressed stream)."""

    def __init__(self, fh, pbar):
        self.fh, self.pbar = fh, pbar

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.pbar.update(len(data))
        return data


def _extract_tar(archive: Path, dest: Path, progress: bool, budget: _Budget) -> int:
    import gzip
    import lzma
    import zlib

    count = 0
    with open(archive, "rb") as raw, bar(total=archive.stat().st_size,
                                         desc=f"extract {archive.name}", unit="B",
                                         unit_scale=True, enabled_=progress) as pbar:
        try:
            # stream mode: one pass over a 6 GB archive instead of an index pass plus a read
            with tarfile.open(fileobj=_Counting(raw, pbar), mode="r|*") as tf:
                for m in tf:
                    rel = safe_member_path(m.name, archive)
                    target = dest.joinpath(*rel.parts)
                    if m.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                    elif m.isfile():
                        budget.member(m.name, rel, m.size)  # a sparse member: its full size
                        target.parent.mkdir(parents=True, exist_ok=True)
                        src = tf.extractfile(m)
                        with open(target, "wb") as out:
                            for chunk in iter(lambda: src.read(_CHUNK), b""):
                                budget.wrote(len(chunk))
                                out.write(chunk)
                        _set_mtime(target, float(m.mtime))
                    elif m.type in (tarfile.XHDTYPE, tarfile.XGLTYPE):
                        continue
                    else:
                        raise DownloadError(f"{archive.name} holds {m.name!r}, which is a link "
                                            "or a special file; nothing was extracted",
                                            hint="do not use this archive; download it again")
                    count += 1
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError) as exc:
            raise DownloadError(f"{archive} is damaged: {exc}",
                                hint="delete it and download it again") from exc
    return count
