"""The dataset contract.

A dataset yields :class:`Clip` records, its class list and its official evaluation splits. The
official folds are part of the contract: ESC-50 5 folds, UrbanSound8K 10, DCASE 2013 train =
development set, test = evaluation set. A dataset never invents random folds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from bench.datasets.checks import check_files, leakage_into_report
from bench.datasets.clips import (TEST, TRAIN, Clip, Fold, Split, TaskInfo,  # noqa: F401
                                  VerifyReport)
from bench.errors import ConfigError, DatasetError


class Dataset(ABC):
    """Base class of every dataset.

    Parameters
    ----------
    data_dir : Path
        The data directory (``--data-dir``/``BENCH_DATA_DIR``); a dataset locates its folder in it,
        or accepts ``data_dir`` pointing straight at its own folder.
    download : bool
        Whether :meth:`prepare` may fetch a missing dataset.

    Notes
    -----
    Subclasses set ``name``, ``default_repeats`` and ``version`` and implement :meth:`prepare`
    and :meth:`load_clips`; :meth:`clips` reads once and keeps the result, and the folds,
    classes and leave-one-fold-out splits derive from the clips.
    """

    name: str = "dataset"
    #: trials per fold when the protocol does not say (docs/protocol.md; the table row's)
    default_repeats: int = 1
    #: identifies the data release; recorded with every result
    version: str = "1"
    #: one fixed split instead of folds: train on the clips of fold "train", test on "test"
    fixed_split: bool = False
    #: what a verify report names as damaged when the clip list cannot be read
    metadata_label: str = "(metadata)"
    #: what the classifier predicts and how it is scored (single-label clips by default)
    task: TaskInfo = TaskInfo()

    def __init__(self, data_dir: Path, *, download: bool = True, **options: Any):
        self.data_dir = Path(data_dir).expanduser()
        self.download = download
        self._clips: list[Clip] | None = None  # what load_clips() read; None: not read yet
        #: what reading the clip list noticed, for verify (``bench data verify``) to show
        self.notes: list[str] = []
        if options:

            raise ConfigError(f"dataset {self.name} takes no options, found {sorted(options)}")

    # -- to implement -------------------------------------------------------------------------
    @abstractmethod
    def prepare(self, progress: bool = True) -> None:
        """Make the files available (download, extract, generate); raise DatasetError if not."""

    @abstractmethod
    def load_clips(self) -> list[Clip]:
        """Read all clips, in a stable order (paths need not exist); :meth:`clips` keeps them."""

    def prefer_rate(self, rate: int | None) -> int | None:
        """Told the embedder's sample rate before the clips are read. A dataset that holds its
        audio at several rates (HEAR task folders) reads the copy that needs no resampling;
        the others keep their one copy (``None``)."""
        return None

    # -- derived ------------------------------------------------------------------------------
    def clips(self) -> list[Clip]:
        """All clips, in a stable order: read on first use, then a copy of what was read."""
        if self._clips is None:
            self._clips = self.load_clips()
        return list(self._clips)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, sorted; the class index of a clip is its position here."""
        return tuple(sorted({c.label for c in self.clips()}))

    def folds(self) -> list[Fold]:
        """Distinct folds in their natural order (``train``, ``test`` for a fixed split)."""
        if self.fixed_split:
            return [TRAIN, TEST]
        return sorted({c.fold for c in self.clips()}, key=_fold_order)

    def splits(self) -> list[Split]:
        """Leave-one-fold-out over the official folds; for a fixed split, train/test once."""
        if self.fixed_split:
            return [Split(TEST, (TRAIN,))]
        folds = self.folds()
        return [Split(f, tuple(g for g in folds if g != f)) for f in folds]

    def verify(self, deep: bool = False, progress: bool = True) -> VerifyReport:
        """Check every clip: its audio file present and readable, and no clip in two folds.

        Parameters
        ----------
        deep : bool
            Decode every audio file completely (slower); otherwise read headers and check the
            file structure, which finds missing and truncated files.
        progress : bool
            Show a bar.

        Returns
        -------
        VerifyReport
            A clip list that cannot be read is one damaged entry (:attr:`metadata_label`),
            with nothing else checked; otherwise :attr:`notes` are among the report's notes.
        """

        report = VerifyReport(self.name, getattr(self, "root", None))
        try:
            clips = self.clips()
        except DatasetError as exc:
            report.damaged.append((self.metadata_label, exc.message))
            return report
        report.listed = len(clips)
        check_files(clips, report, deep=deep, progress=progress)
        leakage_into_report(clips, report)
        report.notes.extend(self.notes)
        return report

    def describe(self) -> dict[str, Any]:
        """A short record of this dataset for results files."""
        return {"name": self.name, "version": self.version}


def _fold_order(fold: Fold) -> tuple[int, Any]:
    # ints in numeric order first, then names ("train" before "test" is not alphabetical: that
    # order comes from fixed_split)
    return (0, fold) if isinstance(fold, int) else (1, str(fold))
