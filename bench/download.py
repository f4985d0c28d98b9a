"""Downloads: HTTP(S) with Range resume, size and checksum checks, atomic completion.

A download goes to ``<dest>.part``; an interrupted one resumes from the bytes already there
(when the server honours Range); only a complete file whose size and checksums match is renamed
to ``dest``. A partial file is therefore never mistaken for a complete one, and a file that is
already complete is never downloaded again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.errors import DownloadError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Remote:
    """A file to fetch and what it must be.

    Attributes
    ----------
    url : str
        Where it is.
    filename : str
        Name to store it under.
    size : int or None
        Exact size in bytes, when known.
    sha256, md5 : str or None
        Expected checksums (hex), when known; a prefix of the sha256 is accepted for files
        named by one (``vggish-10086976.pth``).
    """

    url: str
    filename: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def check_file(path: Path, remote: Remote) -> list[str]:
    """Differences between ``path`` and what ``remote`` says it must be (empty when it matches)."""
    problems = []
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        problems.append(f"size {size} bytes, expected {remote.size}")
    if remote.sha256:
        got = file_digest(path, "sha256")
        if not got.startswith(remote.sha256.lower()):
            problems.append(f"sha256 {got}, expected {remote.sha256}")
    if remote.md5:
        got = file_digest(path, "md5")
        if got != remote.md5.lower():
            problems.append(f"md5 {got}, expected {remote.md5}")
    return problems


def fetch(remote: Remote, dest_dir: Path, *, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``remote`` into ``dest_dir`` (resuming a partial download) and verify it.

    Returns
    -------
    Path
        The complete, verified file.

    Raises
    ------
    DownloadError
        When the server cannot be reached, answers with an error, or the file does not match
        its size or checksum (the bad file is removed; a partial one is kept for resuming).
    """
    from bench.progress import bar

    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / remote.filename
    if dest.exists():
        return dest
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if remote.size is not None and have > remote.size:
        part.unlink()
        have = 0

    request = urllib.request.Request(remote.url, headers={"User-Agent": "bench"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http(s) only)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the part file is complete
            response = None
        else:
            raise DownloadError(f"downloading {remote.url} failed: HTTP {exc.code} {exc.reason}",
                                hint=_by_hand(remote, dest)) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"cannot reach {remote.url}: {getattr(exc, 'reason', exc)}",
                            hint=_by_hand(remote, dest)) from exc

    if response is not None:
        with response:
            status = getattr(response, "status", 200)
            if have and status != 206:  # server ignored Range: start over
                have = 0
            length = response.headers.get("Content-Length")
            total = (have + int(length)) if length is not None else remote.size
            mode = "ab" if have else "wb"
            try:
                with open(part, mode) as fh, bar(total=total, desc=remote.filename, unit="B",
                                                 unit_scale=True, enabled_=progress) as pbar:
                    pbar.update(have)
                    while True:
                        chunk = response.read(CHUNK)
                        if not chunk:
                            break
                        fh.write(chunk)
                        pbar.update(len(chunk))
            except OSError as exc:
                raise DownloadError(f"writing {part} failed: {exc}",
                                    hint="free some disk space and run the same command again; "
                                         "the download resumes") from exc
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                raise DownloadError(f"download of {remote.url} interrupted: {exc}",
                                    hint="run the same command again; it resumes") from exc

    problems = check_file(part, remote)
    if problems:
        size_only = all(p.startswith("size") for p in problems)
        if size_only and remote.size is not None and part.stat().st_size < remote.size:
            raise DownloadError(f"download of {remote.url} stopped early: {problems[0]}",
                                hint="run the same command again; it resumes")
        part.unlink()
        raise DownloadError(f"{remote.url} does not match what is expected: {'; '.join(problems)}",
                            hint="the file was removed; try again, or place a verified copy by "
                                 "hand: " + _by_hand(remote, dest))
    os.replace(part, dest)
    return dest


def install_local_copy(source: Path, remote: Remote, dest_dir: Path, *, verify: bool = True) -> Path:
    """Copy a file the user already has into place, after checking it like a download."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise DownloadError(f"no such file: {source}")
    if verify:
        problems = check_file(source, remote)
        if problems:
            raise DownloadError(f"{source} is not the expected {remote.filename}: "
                                f"{'; '.join(problems)}")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / remote.filename
    tmp = dest.with_name(dest.name + ".part")
    shutil.copyfile(source, tmp)
    os.replace(tmp, dest)
    return dest


def _by_hand(remote: Remote, dest: Path) -> str:
    want = []
    if remote.sha256:
        want.append(f"sha256 {remote.sha256}")
    if remote.md5:
        want.append(f"md5 {remote.md5}")
    if remote.size:
        want.append(f"{remote.size} bytes")
    extra = f" ({', '.join(want)})" if want else ""
    return f"download {remote.url}{extra} yourself and place it at {dest}"
