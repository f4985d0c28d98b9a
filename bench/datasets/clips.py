"""The records a dataset yields: clips, official splits, and what verification found."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

Fold = Union[int, str]
#: the folds of a dataset with a fixed train/test split
TRAIN, TEST = "train", "test"


@dataclass(frozen=True)
class Clip:
    """One labelled audio file.

    Attributes
    ----------
    id : str
        Unique within the dataset (the file name for the official datasets).
    path : Path
        Absolute path of the audio file.
    label : str
        Class name.
    fold : int or str
        Official fold (``1``..``5`` for ESC-50; ``"train"``/``"test"`` for DCASE 2013).
    source : str or None
        Source recording the clip was cut from, when known (leakage checks).
    """

    id: str
    path: Path
    label: str
    fold: Fold
    source: str | None = None


@dataclass(frozen=True)
class Split:
    """One official train/test split: test on ``test_fold``, train on ``train_folds``."""

    test_fold: Fold
    train_folds: tuple[Fold, ...]


@dataclass
class VerifyReport:
    """What :meth:`Dataset.verify` found."""

    dataset: str
    root: Path | None
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    damaged: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: clips the dataset lists; ``None`` when the list itself could not be read
    listed: int | None = None

    @property
    def ok(self) -> bool:
        return not self.missing and not self.damaged
