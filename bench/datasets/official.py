"""What the three official datasets share: locate a copy, download and extract it, verify it.

A dataset module (``esc50``, ``us8k``, ``dcase2013``) states facts as class attributes (the
folder names a copy may have, the files that identify it, the archives with their sizes and
checksums) and reads its own metadata in :meth:`OfficialDataset.read_clips`. Everything else is
here, once.

Layout under the data directory (``--data-dir``/``BENCH_DATA_DIR``)::

    <data_dir>/ESC-50-master/            what `bench data download esc50` leaves (or your copy)
    <data_dir>/UrbanSound8K/
    <data_dir>/scenes_stereo/ + scenes_stereo_testset/ + dcase2013_task1_filenamekey.csv
    <data_dir>/downloads/                archives while they download (``*.part``) and extract

``data_dir`` may also point straight at one dataset's folder.
"""

from __future__ import annotations

import hashlib
import os
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bench.datasets.base import Clip, Dataset, VerifyReport
from bench.datasets.meta import DatasetMeta
from bench.errors import DatasetError, DownloadError
from bench.io.archive import extract, is_complete
from bench.io.download import Remote, download_file, install_local_copy

DOWNLOADS = "downloads"
MIRROR_ENV = "BENCH_DATA_MIRROR"


@dataclass(frozen=True)
class Package:
    """One file of a dataset's distribution.

    Attributes
    ----------
    remote : Remote
        URL, the name it is stored under, size and checksums where they are stable.
    unpack : bool
        An archive to extract into the data directory; otherwise the file itself is placed
        there.
    expect : tuple of str
        Top-level names the archive unpacks to (checked before anything is moved into place).
    wrap : str, optional
        Folder the archive's content must end up in: used as is when the archive holds it at
        its top level, created around the content otherwise.
    """

    remote: Remote
    unpack: bool = True
    expect: tuple[str, ...] = ()
    wrap: str | None = None


class OfficialDataset(Dataset):
    """Base of the datasets that come from an official release.

    Parameters
    ----------
    data_dir : Path
        Holds the dataset's folder, or is it.
    download : bool
        Whether :meth:`prepare` may download a missing copy (from the mirror in
        ``BENCH_DATA_MIRROR`` when it is set, see :meth:`fetch`).
    """

    #: the dataset's row of the table (bench.datasets.meta); name, title, default_repeats,
    #: n_clips and n_classes are read from it
    meta: DatasetMeta
    title: str = ""
    homepage: str = ""
    #: facts shown by `bench data list`
    n_clips: int = 0
    n_classes: int = 0
    download_bytes: int = 0
    #: folder names a copy may have under the data directory
    folders: tuple[str, ...] = ()
    #: where a download puts the root, relative to the data directory ("" = the data directory)
    download_folder: str = ""
    #: paths (relative to the dataset root) that must exist for a folder to be this dataset
    required: tuple[str, ...] = ()
    #: per-file md5 checks, relative to the root (files of archives that are rebuilt)
    file_md5: dict[str, str] = {}
    packages: tuple[Package, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        meta = cls.__dict__.get("meta")
        if meta is not None:  # one source for the facts the class and the table both show
            cls.name, cls.title, cls.default_repeats = meta.name, meta.title, meta.default_repeats
            cls.n_clips, cls.n_classes = meta.n_clips or 0, meta.n_classes or 0

    def __init__(self, data_dir: Path, *, download: bool = True):
        super().__init__(data_dir, download=download)
        self._root: Path | None = None

    # -- to implement -------------------------------------------------------------------------
    @abstractmethod
    def read_clips(self, root: Path) -> list[Clip]:
        """Read the metadata under ``root`` into clips (paths need not exist)."""

    # -- locating -----------------------------------------------------------------------------
    def candidates(self) -> list[Path]:
        """Folders that may hold this dataset, in the order they are tried."""
        base = self.data_dir
        out = [base]
        for name in self.folders:
            out += [base / name, base / name / name]  # some unpack into a same-named folder
        return out

    def locate(self) -> Path | None:
        """The folder holding a copy of this dataset, or ``None``."""
        for folder in self.candidates():
            if all((folder / rel).exists() for rel in self.required):
                return folder
        return None

    @property
    def root(self) -> Path:
        """The located dataset folder; raise :class:`DatasetError` (with what to do) if none."""
        if self._root is None:
            found = self.locate()
            if found is None:
                raise self.not_found()
            self._root = found
        return self._root

    def not_found(self) -> DatasetError:
        looked = ", ".join(str(c) for c in self.candidates())
        return DatasetError(
            f"{self.title} is not under {self.data_dir} (looked for "
            f"{' + '.join(self.required)} in {looked})",
            hint=f"download it: bench data download {self.name} --data-dir {self.data_dir} "
                 f"(about {human_bytes(self.download_bytes)}); or place a copy by hand: "
                 f"{self.hand_layout()}; or point --data-dir (BENCH_DATA_DIR) at the folder "
                 "that holds it (docs/datasets.md)")

    def hand_layout(self) -> str:
        """The folder names a hand-placed copy must have (for messages)."""
        return f"{self.default_root()}/ holding {', '.join(self.required)}"

    def default_root(self) -> Path:
        """Where the dataset's root is after `bench data download`."""
        return self.data_dir / self.download_folder if self.download_folder else self.data_dir

    # -- preparing ----------------------------------------------------------------------------
    def prepare(self, progress: bool = True) -> None:
        """Locate the copy (downloading it when missing and allowed) and check its metadata."""
        root = self.locate()
        if root is None:
            if not self.download:
                raise self.not_found()
            root = self.fetch(progress=progress)  # checks the metadata it placed
        else:
            problems = self.check_metadata(root)
            if problems:
                raise DatasetError(
                    f"{self.title} at {root} differs from the official release: "
                    f"{'; '.join(p for _, p in problems)}; its folds or labels may not be the "
                    "official ones",
                    hint=f"replace the copy (`bench data download {self.name} --force`), or, to "
                         "use these files on purpose, describe them in a manifest CSV "
                         "(docs/datasets.md)")
        self._root = root
        clips = self.clips()
        if not clips:
            raise DatasetError(f"the metadata of {self.title} at {root} lists no clips",
                               hint=f"replace the copy: bench data download {self.name} --force")
        if not any(c.path.is_file() for c in clips):
            raise DatasetError(f"none of the {len(clips)} audio files of {self.title} is under "
                               f"{root} (first expected: {clips[0].path})",
                               hint=f"the audio is missing; run `bench data verify {self.name}`"
                                    f" or `bench data download {self.name} --force`")

    def check_metadata(self, root: Path) -> list[tuple[str, str]]:
        """``(relative path, problem)`` for each file of :attr:`file_md5` that is not official."""
        problems = []
        for rel, want in self.file_md5.items():
            path = root / rel
            if not path.is_file():
                problems.append((rel, f"{rel} is missing"))
                continue
            data = path.read_bytes()
            got = hashlib.md5(data).hexdigest()
            # a git checkout with autocrlf turns LF into CRLF: same content, other bytes
            if want not in (got, hashlib.md5(data.replace(b"\r\n", b"\n")).hexdigest()):
                problems.append((rel, f"{rel} has md5 {got}, expected {want}"))
        return problems

    def load_clips(self) -> list[Clip]:
        """:meth:`read_clips` on the located copy."""
        return self.read_clips(self.root)

    # -- downloading --------------------------------------------------------------------------
    def fetch(self, *, progress: bool = True, keep_archives: bool = False, force: bool = False,
              mirror: str | None = None) -> Path:
        """Download, verify and extract every package into the data directory.

        Parameters
        ----------
        progress : bool
            Bars with rate and ETA for downloads and extraction.
        keep_archives : bool
            Keep the archives in ``<data_dir>/downloads`` after extraction (they are deleted
            by default: the extracted copy is what is used, and it is verified file by file).
        force : bool
            Replace a copy that is already there.
        mirror : str, optional
            Base URL serving the same files under their stored names (default: the environment
            variable ``BENCH_DATA_MIRROR``, else the official URLs).

        Returns
        -------
        Path
            The dataset root.
        """
        found = self.locate()
        if found is not None and not force:
            return found
        self._root, self._clips = None, None
        if mirror is None:
            mirror = os.environ.get(MIRROR_ENV) or None
        downloads = self.data_dir / DOWNLOADS
        for package in self.packages:
            remote = package.remote.on_mirror(mirror)
            archive = downloads / remote.filename
            try:
                download_file(remote, downloads, progress=progress)
            except DownloadError as exc:
                raise DownloadError(
                    exc.message,
                    hint=f"{exc.hint}, then run the same command again; or place the extracted "
                         f"copy by hand ({self.hand_layout()})") from exc
            if package.unpack:
                extract(archive, self.data_dir, expect=package.expect, wrap=package.wrap,
                        replace=force, progress=progress)
                if not keep_archives:
                    archive.unlink()
            elif keep_archives:
                install_local_copy(archive, remote, self.data_dir, verify=False)
            else:
                os.replace(archive, self.data_dir / remote.filename)
        root = self.locate()
        if root is None:
            raise DatasetError(f"{self.title} was downloaded and extracted into {self.data_dir} "
                               f"but is not found there ({', '.join(self.required)})",
                               hint="report this: the release may have changed its layout")
        problems = self.check_metadata(root)
        if problems:
            raise DatasetError(f"the downloaded {self.title} differs from the release bench "
                               f"knows: {'; '.join(p for _, p in problems)}",
                               hint="the upstream files may have changed; check the dataset's "
                                    f"page ({self.homepage}) and report it")
        return root

    # -- verifying ----------------------------------------------------------------------------
    def verify(self, deep: bool = False, progress: bool = True) -> VerifyReport:
        """:meth:`Dataset.verify`, with the metadata checksums first and notes on the copy: its
        clip count against the official one, and whether bench extracted it."""
        root = self.locate()
        if root is None:
            report = VerifyReport(self.name, None)
            report.missing.extend(str(self.default_root() / r) for r in self.required)
            report.notes.append(self.not_found().hint or "")
            return report
        metadata = self.check_metadata(root)
        report = super().verify(deep=deep, progress=progress)
        # a metadata file that is not the official one goes first: it may explain the rest
        report.missing[:0] = [str(root / rel) for rel, _ in metadata
                              if not (root / rel).is_file()]
        report.damaged[:0] = [(str(root / rel), problem) for rel, problem in metadata
                              if (root / rel).is_file()]
        if report.listed is None:
            return report
        if self.n_clips and report.listed != self.n_clips:
            report.notes.append(f"the metadata lists {report.listed} clips; the official "
                                f"release has {self.n_clips}")
        made = [p for p in self.extracted_folders(root) if is_complete(p)]
        report.notes.append("copy extracted by bench" if made else "copy placed by hand")
        if not report.ok:
            report.notes.append(self.repair_hint())
        return report

    def extracted_folders(self, root: Path) -> list[Path]:
        """The folders an extraction creates (where completion markers are)."""
        return [root]

    def repair_hint(self) -> str:
        return (f"to repair: restore the listed files from the official archive, or replace the "
                f"whole copy with `bench data download {self.name} --force` "
                f"(about {human_bytes(self.download_bytes)})")

    # -- describing ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        # no path here: the runner derives the run's identity from this, and moving a copy
        # of the same release does not change the numbers
        d = super().describe()
        d["official_checks"] = dict(self.file_md5)
        return d

    def status(self) -> dict[str, Any]:
        """A row for `bench data list`: facts, and whether and where a copy is present."""
        root = self.locate()
        partial = [p for p in (self.data_dir / DOWNLOADS).glob("*.part")
                   if any(p.name == pk.remote.filename + ".part" for pk in self.packages)]
        if root is not None:
            present = "yes"
        elif partial:
            have = sum(p.stat().st_size for p in partial)
            present = f"partial download ({human_bytes(have)})"
        else:
            present = "no"
        return {"name": self.name, "clips": self.n_clips, "classes": self.n_classes,
                "size": human_bytes(self.download_bytes), "present": present,
                "where": str(root) if root else str(self.default_root())}


def human_bytes(n: int | float) -> str:
    """``361748263`` -> ``'345 MiB'``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit in ("B", "KiB", "MiB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def read_csv_rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a metadata CSV as dicts; refuse a file that lacks one of ``columns``."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in columns if c not in header]
            if missing:
                raise DatasetError(f"{path} lacks column(s) {missing}; its header is {header}",
                                   hint="this is not the official metadata file; replace it")
            reader.fieldnames = header
            return [{k: (v or "").strip() for k, v in row.items() if k is not None}
                    for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}",
                           hint="replace the metadata file from the official release") from exc


def parse_int(value: str, what: str, path: Path, line: int) -> int:
    """``int(value)``, or a :class:`DatasetError` naming the file, line and column."""
    try:
        return int(value)
    except ValueError:
        raise DatasetError(f"{path}, line {line}: {what} must be an integer, found {value!r}",
                           hint="this metadata file is damaged; replace it") from None


def read_fold_table(meta: Path, columns: tuple[str, ...], *, name: str, label: str, source: str,
                    n_folds: int, path_of: Callable[[int, str], Path]) -> list[Clip]:
    """Clips from an official metadata CSV with one row per clip and integer folds 1..n_folds.

    ``name``, ``label`` and ``source`` are the column names of the file name, the class and the
    source recording; ``path_of(fold, file_name)`` gives the audio path. A bad fold, or an empty
    name or label, is a :class:`DatasetError` naming the file and line.
    """
    clips = []
    for line, row in enumerate(read_csv_rows(meta, columns), start=2):
        fold = parse_int(row["fold"], "fold", meta, line)
        if not 1 <= fold <= n_folds:
            raise DatasetError(f"{meta}, line {line}: fold must be 1..{n_folds}, found {fold}",
                               hint="this metadata file is damaged; replace it")
        file_name, cls = row[name], row[label]
        if not file_name or not cls:
            raise DatasetError(f"{meta}, line {line}: empty {name} or {label}",
                               hint="this metadata file is damaged; replace it")
        clips.append(Clip(id=file_name, path=path_of(fold, file_name), label=cls, fold=fold,
                          source=row[source] or None))
    return sorted(clips, key=lambda c: (c.fold, c.id))
