"""The records a dataset yields: clips, official splits, and what verification found."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

Fold = Union[int, str]
#: the folds of a dataset with a fixed train/test split
TRAIN, TEST = "train", "test"


#: what a dataset asks of the classifier (``Dataset.task``): one class per clip, any number of
#: classes per clip, or timed events inside the clip
TASK_KINDS = ("multiclass", "multilabel", "event")
#: the metrics bench computes for each kind, the default primary first (names valid as MLflow
#: keys; the multilabel and event ones are the HEAR evaluation kit's names; docs/protocol.md)
KIND_METRICS = {
    "multiclass": ("accuracy",),
    "multilabel": ("mAP", "d_prime", "aucroc"),
    "event": ("event_onset_200ms_fms", "event_onset_50ms_fms",
              "event_onset_offset_50ms_20perc_fms", "segment_1s_er"),
}


@dataclass(frozen=True)
class Event:
    """One labelled sound event inside a clip, in seconds from the clip's start."""

    label: str
    start: float
    end: float


@dataclass(frozen=True)
class TaskInfo:
    """What kind of prediction a dataset asks for and how it is scored.

    Attributes
    ----------
    kind : str
        One of :data:`TASK_KINDS`.
    primary_metric : str
        The metric runs are compared on (``accuracy`` for the single-label datasets); a name valid
        as an MLflow metric key.
    metrics : tuple of str
        Every metric the task reports, the primary first.
    event_grid : tuple of (tuple of float, tuple of float), optional
        Event tasks: the median-filter widths and the minimum event durations (ms) that the
        post-processing is chosen from on validation; ``None``: the HEAR kit's default grid.
    """

    kind: str = "multiclass"
    primary_metric: str = "accuracy"
    metrics: tuple[str, ...] = ("accuracy",)
    event_grid: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task kind must be one of {TASK_KINDS}, found {self.kind!r}")


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
    labels : tuple of str
        Multilabel tasks: every label of the clip (possibly none); ``label`` is then the first
        or ``""``. Empty for single-label datasets.
    events : tuple of Event
        Event tasks: the clip's timed events. Empty otherwise.
    """

    id: str
    path: Path
    label: str
    fold: Fold
    source: str | None = None
    labels: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class Split:
    """One official train/test split: test on ``test_fold``, train on ``train_folds``;
    ``val_folds``: folds the dataset itself sets aside for validation (HEAR task folders), else
    the protocol draws validation from the training folds."""

    test_fold: Fold
    train_folds: tuple[Fold, ...]
    val_folds: tuple[Fold, ...] = ()


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
