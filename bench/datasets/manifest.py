"""A user's own dataset, described by a CSV manifest: ``bench run --dataset path/to/data.csv``.

Columns (header line required, any order, names case-insensitive)::

    path    the audio file, relative to the CSV's folder or absolute
    label   the class name
    fold    the fold: integers (1, 2, ...) or names (a, b, ...); leave-one-fold-out over them
    split   optional: train or test, a fixed split instead of folds (``fold`` is then not used)
    source  optional: the recording a clip was cut from (clips of one source in two folds
            are reported)
    id      optional: a unique clip id (default: the path as written)

Other columns are ignored. The delimiter may be a comma, a semicolon or a tab.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from bench.datasets.base import Clip, Dataset, VerifyReport
from bench.errors import DatasetError

_HINT = ("a manifest is a CSV with a header line and the columns path,label,fold (or "
         "path,label,split with split = train/test); see docs/datasets.md")
_INT = re.compile(r"^[+-]?\d+$")


class ManifestDataset(Dataset):
    """The clips a manifest CSV lists, with its folds or its fixed train/test split.

    Parameters
    ----------
    data_dir : Path
        Unused (paths are relative to the manifest); kept for the dataset contract.
    download : bool
        Unused: a manifest's files are the user's.
    manifest : Path
        The CSV file.
    """

    default_repeats = 1

    def __init__(self, data_dir: Path, *, download: bool = True, manifest: Path):
        super().__init__(data_dir, download=download)
        self.manifest = Path(manifest).expanduser().absolute()
        self.name = self.manifest.stem
        self.root = self.manifest.parent
        self.metadata_label = str(self.manifest)
        self._split_column = False
        self._sha256 = ""  # of the bytes the clips were read from

    # -- reading ------------------------------------------------------------------------------
    def load_clips(self) -> list[Clip]:
        path = self.manifest
        if not path.is_file():
            raise DatasetError(f"no manifest at {path}", hint=_HINT)
        try:
            raw = path.read_bytes()
            text = raw.decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"cannot read manifest {path}: {exc}",
                               hint="save it as UTF-8 text") from exc
        self._sha256 = hashlib.sha256(raw).hexdigest()
        lines = text.splitlines()
        if not lines:
            raise DatasetError(f"manifest {path} is empty", hint=_HINT)
        try:
            dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        rows = list(csv.reader(lines, dialect))
        header = [h.strip().lower() for h in rows[0]]
        cols = {h: i for i, h in enumerate(header) if h}
        need = ["path", "label"] + ([] if "split" in cols else ["fold"])
        missing = [c for c in need if c not in cols]
        if missing:
            raise DatasetError(f"manifest {path} lacks column(s) {missing}; its header is "
                               f"{rows[0]}", hint=_HINT)
        fixed = self._split_column = "split" in cols
        if fixed and "fold" in cols:
            self.notes.append("the split column decides train/test; the fold column is not used")

        clips = []
        for line, row in enumerate(rows[1:], start=2):
            if not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
                continue
            if len(row) > len(header):
                raise DatasetError(f"{path}, line {line}: {len(row)} fields, the header has "
                                   f"{len(header)} (a comma inside a value must be quoted)",
                                   hint=_HINT)
            get = lambda c: row[cols[c]].strip() if c in cols and cols[c] < len(row) else ""  # noqa: E731
            raw, label = get("path"), get("label")
            if not raw or not label:
                raise DatasetError(f"{path}, line {line}: empty {'path' if not raw else 'label'}",
                                   hint="every row needs a path and a label")
            if fixed:
                fold: int | str = get("split").lower()
                if fold not in ("train", "test"):
                    raise DatasetError(f"{path}, line {line}: split must be train or test, "
                                       f"found {get('split')!r}", hint=_HINT)
            else:
                value = get("fold")
                if not value:
                    raise DatasetError(f"{path}, line {line}: empty fold", hint=_HINT)
                fold = int(value) if _INT.match(value) else value
            # a manifest written on Windows: backslashes are separators there, not name characters
            audio = Path(raw.replace("\\", "/") if os.sep == "/" else raw).expanduser()
            if not audio.is_absolute():
                audio = self.root / audio
            clip_id = get("id") or str(PurePosixPath(raw.replace("\\", "/")))
            clips.append(Clip(id=clip_id, path=audio, label=label, fold=fold,
                              source=get("source") or None))
        if not clips:
            raise DatasetError(f"manifest {path} lists no clips", hint=_HINT)
        return clips

    @property
    def fixed_split(self) -> bool:
        """Whether a split column gives a fixed train/test split (known once the file is read)."""
        self.clips()
        return self._split_column

    # -- contract -----------------------------------------------------------------------------
    def prepare(self, progress: bool = True) -> None:
        """Read the manifest and check it can be evaluated (classes, folds, files there)."""
        clips = self.clips()
        if len({c.label for c in clips}) < 2:
            raise DatasetError(f"manifest {self.manifest} has a single class "
                               f"({clips[0].label!r}); classification needs two or more")
        folds = {c.fold for c in clips}
        if self.fixed_split and folds != {"train", "test"}:
            raise DatasetError(f"manifest {self.manifest} has only {sorted(folds)} rows; a "
                               "fixed split needs both train and test rows")
        if not self.fixed_split and len(folds) < 2:
            raise DatasetError(f"manifest {self.manifest} has a single fold {folds.pop()!r}; "
                               "cross-validation needs two or more",
                               hint="assign clips to several folds, or use a split column")
        if not any(c.path.is_file() for c in clips):
            raise DatasetError(f"none of the {len(clips)} files in {self.manifest} exists (the "
                               f"first is {clips[0].path})",
                               hint=f"relative paths are taken from the manifest's folder "
                                    f"{self.root}; write them relative to it, or absolute")

    def verify(self, deep: bool = False, progress: bool = True) -> VerifyReport:
        """:meth:`Dataset.verify`, with how to repair a manifest."""
        report = super().verify(deep=deep, progress=progress)
        if report.listed is not None and not report.ok:
            report.notes.append("to repair: fix the listed paths in the manifest or restore the "
                                "files; or run with --skip-bad to leave unreadable files out")
        return report

    def describe(self) -> dict[str, Any]:
        self.clips()  # the digest is of the file as read
        digest = self._sha256
        return {"name": self.name, "version": digest[:12], "manifest": str(self.manifest),
                "manifest_sha256": digest,
                "split": "fixed train/test" if self.fixed_split else "folds"}
