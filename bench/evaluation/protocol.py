"""Cross-validation over the official folds: split, standardise, train the grid, decide per clip.

For each official split and each repeat: hold out a validation share of the training data
(whole clips, stratified, for ``paper``; single frames for ``l3embedding``; the next fold for
``hear``), fit the standardisation (training frames, or training + validation frames, or none),
train the classifier's grid with early stopping, keep the grid point with the best validation
accuracy, and predict each test clip by summing its frames' class likelihoods (with pooled
clips: its one vector's). Event tasks: frames with their own targets, events detected and
scored per clip (:mod:`bench.evaluation.event_fold`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from bench.embedders.base import EmbedderSpec
from bench.evaluation.classifiers import (FoldSetup, chosen_point, fit_classifier,
                                          identity_scaler)
from bench.evaluation.event_fold import EventTimeline, check_frame_rate, event_protocol
from bench.evaluation.events import require_sed_eval
from bench.evaluation.fold_record import ChosenPoint, FoldRecord, GridPointRecord
from bench.evaluation.frames import Frames, Standardizer
from bench.evaluation.metrics import multilabel_targets
from bench.evaluation.sampling import few_shot, next_fold, pool_clips
from bench.evaluation.scoring import score_test
from bench.evaluation.selection import fold_grid
from bench.evaluation.settings import ProtocolConfig
from bench.datasets.base import Clip, Split
from bench.datasets.clips import TaskInfo
from bench.errors import ConfigError, ProtocolError
from bench.util import interrupt
from bench.util.jsonrecord import ABSENT


@dataclass
class FoldData:
    """Everything a fold needs: the shared matrix, clip offsets, labels and folds.

    ``labels``: the class index of each clip, or (multilabel and event tasks) its 0/1 row;
    ``strata``: what stratified draws (validation hold-out, few-shot) group clips by: the
    class, or a multilabel clip's first label (clips without a label form one more group).
    ``timeline``: event tasks: each row's time (from ``hop_s`` and ``window_s``, the
    embedder's) and its own 0/1 targets, which the classifier learns instead of the clip's.
    """

    X: np.ndarray
    offsets: np.ndarray
    clips: list[Clip]
    classes: tuple[str, ...]
    task: TaskInfo = TaskInfo()
    hop_s: float | None = None
    window_s: float | None = None

    def __post_init__(self) -> None:
        index = {c: i for i, c in enumerate(self.classes)}
        check_task(self.task)
        self.timeline = (EventTimeline.build(self.offsets, self.clips, self.classes, self.hop_s,
                                             self.window_s)
                         if self.events else None)
        if self.multilabel:
            self.labels = multilabel_targets([c.labels for c in self.clips], self.classes)
            self.strata = np.array([index[c.labels[0]] if c.labels else len(self.classes)
                                    for c in self.clips], dtype=np.int64)
        else:
            self.labels = np.array([index[c.label] for c in self.clips], dtype=np.int64)
            self.strata = self.labels
        self.counts = np.diff(self.offsets)

    @property
    def multilabel(self) -> bool:
        """Sigmoid outputs, any number of classes at once (multilabel and event tasks)."""
        return self.task.kind in ("multilabel", "event")

    @property
    def events(self) -> bool:
        return self.task.kind == "event"

    def row_labels(self, rows: np.ndarray, clip_idx: np.ndarray) -> np.ndarray:
        """The targets of some rows (``clip_idx``: each row's clip): its clip's label, or
        on an event task the row's own targets."""
        if self.timeline is not None:
            return self.timeline.targets[rows]
        return self.labels[clip_idx]

    def stratum_name(self, s: int) -> str:
        return self.classes[s] if s < len(self.classes) else "(no label)"

    def frames_of(self, clip_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows and per-row clip position of the given clips."""
        clip_idx = np.asarray(clip_idx, dtype=np.int64)
        counts = self.counts[clip_idx]
        rows = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in clip_idx]
                              ) if len(clip_idx) else np.zeros(0, np.int64)
        pos = np.repeat(np.arange(len(clip_idx)), counts)
        return rows.astype(np.int64), pos

    def pooled(self, mode: str) -> "FoldData":
        """The same clips with one row each: their frames pooled (``mean``, ``max``,
        ``mean+max``)."""
        return FoldData(pool_clips(self.X, self.offsets, mode),
                        np.arange(len(self.clips) + 1, dtype=np.int64), self.clips, self.classes,
                        self.task)


def check_task(task: TaskInfo, protocol: ProtocolConfig | None = None,
               spec: EmbedderSpec | None = None) -> None:
    """Refuse, in one line and before any slow work, a task this protocol (and embedder)
    cannot evaluate: multilabel and event tasks with the multinomial ``logreg``; event tasks
    without sed_eval or with an embedder of one vector per clip."""
    if task.kind == "event":
        require_sed_eval()
        if spec is not None:
            check_frame_rate(spec.hop_s, f"embedder {spec.name}")
    if (task.kind in ("multilabel", "event") and protocol is not None
            and protocol.classifier == "logreg"):
        raise ConfigError(f"protocol {protocol.preset!r} uses classifier 'logreg', which is "
                          f"multinomial: it cannot learn "
                          f"{'an event' if task.kind == 'event' else 'a multilabel'} task",
                          hint="use --protocol paper, hear or linear on this task")


def fold_data(X: np.ndarray, offsets: np.ndarray, clips: list[Clip], classes: tuple[str, ...],
              protocol: ProtocolConfig, task: TaskInfo = TaskInfo(),
              spec: EmbedderSpec | None = None) -> FoldData:
    """The matrix a run's folds share, pooled per clip when the protocol asks for it (never
    on an event task). ``task``: the dataset's (:attr:`bench.datasets.base.Dataset.task`);
    ``spec``: the embedder's, whose hop and window place an event task's frames in time."""
    hop_s, window_s = (spec.hop_s, spec.window_s) if spec is not None else (None, None)
    data = FoldData(X, offsets, clips, classes, task, hop_s, window_s)
    return data if protocol.pooling == "none" or data.events else data.pooled(protocol.pooling)


def allocate(labels: np.ndarray, fraction: float, rng: np.random.Generator,
             min_per_class: int = 0) -> np.ndarray:
    """Stratified hold-out: positions (into ``labels``) chosen for validation.

    ``round(fraction * n)`` items in all, spread over classes in proportion to their size by
    largest remainder (ties broken at random), each class with at least two items given at
    least ``min_per_class`` and at least one item always left for training.
    """
    n = len(labels)
    classes, counts = np.unique(labels, return_counts=True)
    ideal = fraction * counts
    take = np.floor(ideal).astype(int)
    remaining = int(round(fraction * n)) - take.sum()
    if remaining > 0:
        order = np.lexsort((rng.random(len(classes)), -(ideal - take)))
        take[order[:remaining]] += 1
    take = np.where(counts >= 2, np.maximum(take, min_per_class), 0)
    take = np.minimum(take, counts - 1)
    chosen = []
    for c, k in zip(classes, take):
        members = np.flatnonzero(labels == c)
        if k > 0:
            chosen.append(rng.choice(members, size=k, replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def fold_seeds(seed: int, split_index: int, repeat: int) -> tuple[int, int]:
    """Seeds of the validation split and of the MLP for one (split, repeat)."""
    ss = np.random.SeedSequence([seed, split_index, repeat])
    a, b = ss.generate_state(2)
    return int(a), int(b)


def validation_split(data: FoldData, train_clips: np.ndarray, protocol: ProtocolConfig,
                     rng: np.random.Generator, test_fold: Any = None,
                     val_clips: np.ndarray | None = None
                     ) -> tuple[Frames, Frames, int, int, list[str]]:
    """Hold out validation data from a split's training clips.

    ``val_clips``: the clips of the split's own validation folds (``Split.val_folds``, HEAR
    task folders): they validate, and the protocol's ``val_source``, ``val_fraction``,
    ``val_unit`` and ``min_val_per_class`` do not apply.

    Whole clips, stratified (``val_unit="clip"``), or single frames, stratified, so that frames
    of one clip may fall on both sides (``"frame"``, the authors' code); or the whole fold after
    ``test_fold`` (``val_source="next_fold"``, HEAR). A few-shot protocol keeps
    ``train_per_class`` clips per class of what is left for training (holdout: before the
    holdout is drawn, so validation comes out of the K clips); a classifier without validation
    (``logreg``) trains on all of them.

    Returns
    -------
    train, val : Frames
    n_train_clips, n_val_clips : int
        Clips with frames on each side.
    warnings : list of str
    """
    warnings: list[str] = []
    given = val_clips is not None and len(val_clips) > 0
    val_clips = val_clips if given and protocol.needs_validation else np.zeros(0, np.int64)
    if not given and protocol.needs_validation and protocol.val_source == "next_fold":
        val_fold = next_fold([c.fold for c in data.clips], test_fold)
        in_val = np.array([data.clips[i].fold == val_fold for i in train_clips], dtype=bool)
        if not in_val.any():
            raise ProtocolError(f"test fold {test_fold!r}: the next fold {val_fold!r} is not "
                                f"among this split's training folds",
                                hint="next-fold validation needs k-fold splits")
        train_clips, val_clips = train_clips[~in_val], train_clips[in_val]
    if protocol.train_per_class:
        train_clips, more = few_shot(train_clips, data.strata, protocol.train_per_class, rng)
        warnings.extend(more)
    if given or not protocol.needs_validation or protocol.val_source == "next_fold":
        return (_frames(data, train_clips), _frames(data, val_clips), len(train_clips),
                len(val_clips), warnings)
    if protocol.val_unit == "clip":
        val_pos = allocate(data.strata[train_clips], protocol.val_fraction, rng,
                           protocol.min_val_per_class)
        val_clips = train_clips[val_pos]
        fit_clips = np.setdiff1d(train_clips, val_clips)
        lonely = sorted(set(data.strata[train_clips].tolist())
                        - set(data.strata[val_clips].tolist()))
        if lonely:
            warnings.append(f"classes with a single training clip have no validation clip: "
                            f"{[data.stratum_name(c) for c in lonely]}")
        return (_frames(data, fit_clips), _frames(data, val_clips), len(fit_clips),
                len(val_clips), warnings)
    rows, pos = data.frames_of(train_clips)
    y = data.row_labels(rows, train_clips[pos])
    mask = np.zeros(len(rows), bool)
    mask[allocate(data.strata[train_clips][pos], protocol.val_fraction, rng, 0)] = True
    train = Frames(data.X, rows[~mask], y[~mask], _dense(pos[~mask]))
    val = Frames(data.X, rows[mask], y[mask], _dense(pos[mask]))
    return train, val, len(train_clips), val.n_clips, warnings


def _frames(data: FoldData, clip_idx: np.ndarray) -> Frames:
    rows, pos = data.frames_of(clip_idx)
    return Frames(data.X, rows, data.row_labels(rows, clip_idx[pos]), pos)


def untrained_classes(data: FoldData, train_clips: np.ndarray, test_clips: np.ndarray
                      ) -> dict[str, int]:
    """Classes with test clips but no training clip in one split, and their test clips.

    The classifier never saw such a class, so every one of its test clips is scored wrong:
    the accuracy is lower than the embedding deserves, silently unless this is reported.
    """
    if data.multilabel:
        trained = set(np.flatnonzero(data.labels[train_clips].sum(axis=0)).tolist())
        counts = data.labels[test_clips].sum(axis=0).astype(np.int64)
    else:
        trained = set(data.labels[train_clips].tolist())
        counts = np.bincount(data.labels[test_clips], minlength=len(data.classes))
    return {data.classes[c]: int(counts[c]) for c in np.flatnonzero(counts)
            if c not in trained}


def untrained_warning(untrained: dict[str, int]) -> str:
    """The one-line warning for :func:`untrained_classes`."""
    listed = ", ".join(f"{c} ({n} test clip{'s' if n != 1 else ''})"
                       for c, n in untrained.items())
    return (f"class(es) with no training clip, whose test clips can never be right (scored "
            f"as wrong): {listed}")


def _checkpointed(on_epoch: Callable[[int, int], None] | None) -> Callable[[int, int], None]:
    """``on_epoch`` that first lets a pending Ctrl-C stop training (an epoch's end is a safe
    point: nothing of the fold is written before it ends)."""
    def call(epoch: int, n_active: int) -> None:
        interrupt.checkpoint()
        if on_epoch is not None:
            on_epoch(epoch, n_active)
    return call


def run_fold(data: FoldData, split: Split, split_index: int, repeat: int,
             protocol: ProtocolConfig, seed: int, device: str = "cpu",
             on_epoch: Callable[[int, int], None] | None = None,
             fixed: ChosenPoint | None = None, threads: int | None = None
             ) -> tuple[FoldRecord, list[dict[str, Any]]]:
    """Train and test one (split, repeat).

    Parameters
    ----------
    threads : int, optional
        The user's ``--threads``: the trainer keeps it; by default it measures whether all of
        torch's threads or one train faster (:mod:`bench.evaluation.threadtune`).
    fixed : ChosenPoint, optional
        With ``grid_search="first_split"``: the ``chosen`` entry of the first split's record of
        this repeat; only that grid point is trained.

    Returns
    -------
    record : FoldRecord
        The fold entry of ``results.json``.
    predictions : list of dict
        One row per test clip; on an event task one per detected event.
    """
    t0 = time.perf_counter()
    protocol = event_protocol(protocol) if data.events else protocol
    split_seed, mlp_seed = fold_seeds(seed, split_index, repeat)
    rng = np.random.default_rng(split_seed)
    train_folds = set(split.train_folds)
    train_clips = np.array([i for i, c in enumerate(data.clips) if c.fold in train_folds],
                           dtype=np.int64)
    test_clips = np.array([i for i, c in enumerate(data.clips) if c.fold == split.test_fold],
                          dtype=np.int64)
    val_folds = set(split.val_folds)
    val_clips = np.array([i for i, c in enumerate(data.clips) if c.fold in val_folds],
                         dtype=np.int64)
    if len(train_clips) == 0 or len(test_clips) == 0:
        raise ProtocolError(f"split with test fold {split.test_fold!r} has "
                            f"{len(train_clips)} training and {len(test_clips)} test clips; "
                            f"both must be non-empty")
    n_classes = len(data.classes)
    train, val, n_fit_clips, n_val_clips, warnings = validation_split(
        data, train_clips, protocol, rng, split.test_fold, val_clips)
    untrained = untrained_classes(data, train_clips, test_clips)
    if untrained:
        warnings.append(untrained_warning(untrained))
    if len(val) == 0 and protocol.needs_validation:
        raise ProtocolError(f"test fold {split.test_fold!r}: the validation split is empty "
                            f"({len(train_clips)} training clips)",
                            hint="every class needs at least two training clips")
    if protocol.scaler_fit == "none":
        scaler = identity_scaler(data.X.shape[1])
    else:
        scaler = Standardizer.fit(data.X, train.rows if protocol.scaler_fit == "train"
                                  else np.concatenate([train.rows, val.rows]))
    grid = fold_grid(protocol, seed, repeat, fixed)
    model = fit_classifier(protocol, grid, FoldSetup(n_classes, mlp_seed, device, threads,
                                                     data.multilabel),
                           train, val, scaler, _checkpointed(on_epoch))
    warnings.extend(getattr(model, "warnings_", []))

    test = _frames(data, test_clips)
    proba = model.predict_proba(test, scaler)
    rows = [{"clip_id": data.clips[i].id, "test_fold": split.test_fold, "repeat": repeat}
            for i in test_clips]
    post = None
    if data.timeline is not None:
        line = data.timeline
        scored, post = line.score(line.sequences(model.predict_proba(val, scaler), val.rows),
                                  line.sequences(proba, test.rows),
                                  {r["clip_id"]: r for r in rows}, data.task)
    else:
        scored = score_test(proba, test.clip, data.labels[test_clips], data.classes,
                            data.counts[test_clips], rows, data.task.primary_metric)
    warnings.extend(scored.warnings)
    points = [GridPointRecord.from_dict(p.to_dict()) for p in model.points_]
    best = points[model.best_index_]  # None, not NaN/Infinity, when it diverged (strict JSON)
    record = FoldRecord(
        test_fold=split.test_fold, repeat=repeat, seed=mlp_seed, split_seed=split_seed,
        accuracy=ABSENT if scored.accuracy is None else scored.accuracy,
        metric=scored.metric, metrics=scored.metrics,
        val_accuracy=best.val_accuracy, val_loss=best.val_loss,
        chosen=chosen_point(model), grid=points,
        per_class_accuracy=scored.per_class_accuracy, confusion=scored.confusion,
        per_class_ap=scored.per_class_ap, postprocessing=post,
        n_train_clips=int(n_fit_clips), n_val_clips=int(n_val_clips),
        n_test_clips=int(len(test_clips)), n_train_frames=len(train), n_val_frames=len(val),
        n_test_frames=len(test), classify_s=time.perf_counter() - t0,
        warnings=warnings, untrained_classes=untrained)
    return record, scored.predictions


def _dense(pos: np.ndarray) -> np.ndarray:
    """Renumber clip positions 0..k-1 in order of first appearance."""
    _, inv = np.unique(pos, return_inverse=True)
    return inv.astype(np.int64)
