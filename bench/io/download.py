"""Downloads: HTTP(S) with Range resume, size and checksum checks, atomic completion.

A download goes to ``<dest>.part``; an interrupted one resumes from the bytes already there
(when the server honours Range); only a complete file whose size and checksums match is renamed
to ``dest``. A partial file is therefore never mistaken for a complete one, and a file that is
already complete is never downloaded again.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.errors import DownloadError
from bench.io.fileio import file_digest
from bench.util.progress import bar

CHUNK = 1 << 20
#: first pause before an interrupted transfer is resumed; doubles with each further attempt
RETRY_DELAY_S = 1.0


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

    def on_mirror(self, base: str | None) -> "Remote":
        """The same file fetched from ``base``/``filename`` instead (``None``: unchanged)."""
        if not base:
            return self
        return dataclasses.replace(self, url=f"{base.rstrip('/')}/{self.filename}")


def _problems(path: Path, remote: Remote) -> list[str]:
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


def download_file(remote: Remote, dest_dir: Path, *, progress: bool = True, timeout: float = 60.0,
          retries: int = 2) -> Path:
    """Download ``remote`` into ``dest_dir`` (resuming a partial download) and verify it.

    Parameters
    ----------
    remote : Remote
        What to fetch and what it must be.
    dest_dir : Path
        Folder to store it in (created when missing).
    progress : bool
        Show a bar with rate and ETA on stderr.
    timeout : float
        Seconds to wait for the server to answer or send more bytes.
    retries : int
        How many times an interrupted transfer is resumed automatically before giving up.

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
    import time

    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / remote.filename
    if dest.exists():  # complete from an earlier run, or placed by hand: checked all the same
        problems = _problems(dest, remote)
        if problems:
            raise DownloadError(f"{dest} is there but is not the expected file: "
                                f"{'; '.join(problems)}",
                                hint=f"delete it and run the same command again, or replace it "
                                     f"with a verified copy: {_by_hand(remote, dest)}")
        return dest
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _transfer(remote, part, dest, progress=progress, timeout=timeout)
            break
        except _Interrupted as exc:
            if attempt == retries:
                raise DownloadError(f"download of {remote.url} interrupted: {exc} "
                                    f"({_size_of(part)} bytes kept in {part})",
                                    hint="run the same command again; it resumes") from exc
            time.sleep(min(RETRY_DELAY_S * 2.0 ** attempt, 30.0))

    problems = _problems(part, remote)
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


class _Interrupted(Exception):
    """The transfer stopped part-way; what arrived is in the ``.part`` file."""


def _size_of(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _transfer(remote: Remote, part: Path, dest: Path, *, progress: bool, timeout: float) -> None:
    """One attempt: append what the server sends to ``part`` (from its current size on)."""
    import http.client

    have = _size_of(part)
    if remote.size is not None and have > remote.size:
        part.unlink()
        have = 0
    if remote.size is not None and have == remote.size:
        return  # complete already; the caller checks it

    request = urllib.request.Request(remote.url, headers={"User-Agent": "bench"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http(s) only)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the part file is complete
            return
        raise DownloadError(f"downloading {remote.url} failed: HTTP {exc.code} {exc.reason}",
                            hint=_by_hand(remote, dest)) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"cannot reach {remote.url}: {getattr(exc, 'reason', exc)}",
                            hint=_by_hand(remote, dest)) from exc

    with response:
        status = getattr(response, "status", 200)
        if have and status == 206 and not _range_starts_at(response, have):
            part.unlink()  # another range than asked for: appending it would corrupt the file
            raise _Interrupted("the server answered with another byte range; starting over")
        if have and status != 206:  # server ignored Range and sends everything: start over
            have = 0
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None
        total = (have + expected) if expected is not None else remote.size
        received = 0
        try:
            fh = open(part, "ab" if have else "wb")
        except OSError as exc:
            raise DownloadError(f"cannot write {part}: {exc}",
                                hint="check that the folder is writable and has free space") from exc
        with fh, bar(total=total, desc=remote.filename, unit="B", unit_scale=True,
                     enabled_=progress) as pbar:
            pbar.update(have)
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (http.client.HTTPException, OSError) as exc:  # resets, timeouts
                    raise _Interrupted(str(exc) or type(exc).__name__) from exc
                if not chunk:
                    break
                try:
                    fh.write(chunk)
                except OSError as exc:
                    raise DownloadError(f"writing {part} failed: {exc}",
                                        hint="free some disk space and run the same command "
                                             "again; the download resumes") from exc
                received += len(chunk)
                pbar.update(len(chunk))
        # urllib returns an empty read, not an error, when the server closes the connection
        # early; only the announced length tells a complete body from a cut one
        if expected is not None and received < expected:
            raise _Interrupted(f"the server closed the connection after {received} of "
                               f"{expected} bytes")


def _range_starts_at(response, offset: int) -> bool:
    rng = response.headers.get("Content-Range", "")  # "bytes 100-199/200"
    try:
        return int(rng.split()[1].split("-")[0]) == offset
    except (IndexError, ValueError):
        return False


def install_local_copy(source: Path, remote: Remote, dest_dir: Path, *, verify: bool = True) -> Path:
    """Copy a file the user already has into place, after checking it like a download."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise DownloadError(f"no such file: {source}")
    if verify:
        problems = _problems(source, remote)
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
