"""One fold of an event task (HEAR ``embedding_type: event``): frames in time, their targets,
the protocol fields that apply, and the test score from detected events.

The classifier learns frames, never pooled clips: each frame's 0/1 targets are the classes
with an event at the frame's time (:func:`bench.evaluation.events.frame_targets`), a frame's
time being the centre of its window (``start + window_s / 2``; a sequence embedder's frames at
``k * hop_s``). The grid point is chosen on the validation frames' mAP (the stacked trainer's
and the head's multilabel path). Then each validation clip's frame probabilities become events
under every point of the task's post-processing grid, the point with the best primary metric
(onset F-measure at 200 ms) is kept, and the test clips' events under it are scored
(:func:`bench.evaluation.events.event_scores`). docs/protocol.md, "Event tasks".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.audio.frames import frame_centres
from bench.datasets.clips import KIND_METRICS, Clip, Event, TaskInfo
from bench.errors import ConfigError
from bench.evaluation.events import (choose_postprocessing, event_scores,
                                     events_from_probabilities, frame_targets)
from bench.evaluation.fold_record import PostprocessingRecord
from bench.evaluation.scoring import TestScores, json_number
from bench.evaluation.settings import ProtocolConfig

#: protocol fields an event fold sets whatever the preset says: frames with their own targets
#: (a pooled clip has no time), whole validation clips (post-processing reads each clip's frame
#: sequence), the grid chosen on frame mAP (a clip's frames do not share targets)
EVENT_FIELDS = {"pooling": "none", "val_unit": "clip", "selection_unit": "frame"}


def event_protocol(protocol: ProtocolConfig) -> ProtocolConfig:
    """The protocol as an event fold applies it (:data:`EVENT_FIELDS` set)."""
    return protocol.replace(**EVENT_FIELDS)


def check_frame_rate(hop_s: float | None, embedder: str = "the embedder") -> None:
    """An event task needs frames in time: refuse an embedder with one vector per clip (and
    a caller of :func:`bench.evaluation.protocol.fold_data` that gave no embedder spec)."""
    if hop_s is None:
        raise ConfigError("an event task needs its frames' times: no frame hop was given",
                          hint="pass the embedder's spec to fold_data (its hop_s and window_s)")
    if not hop_s > 0:
        raise ConfigError(f"an event task needs one embedding per frame in time; {embedder} "
                          f"gives one per clip (hop {hop_s!r})",
                          hint="use a windowed embedder, or a HEAR model in timestamp mode "
                               "(without #scene)")


@dataclass
class ClipSequences:
    """Some clips' frames in time order, by clip id: probabilities, times and true events."""

    probs: dict[str, np.ndarray]
    times: dict[str, np.ndarray]
    references: dict[str, tuple[Event, ...]]


@dataclass
class EventTimeline:
    """An event task's frames in time.

    Attributes
    ----------
    offsets : ndarray of int64
        Row offsets of the clips in the shared matrix.
    times : ndarray, shape (n_rows,)
        Each row's time in its clip (seconds).
    targets : ndarray, shape (n_rows, n_classes), float32
        Each row's 0/1 targets.
    clips : list of Clip
    classes : tuple of str
    """

    offsets: np.ndarray
    times: np.ndarray
    targets: np.ndarray
    clips: list[Clip]
    classes: tuple[str, ...]

    @classmethod
    def build(cls, offsets: np.ndarray, clips: list[Clip], classes: tuple[str, ...],
              hop_s: float | None, window_s: float | None) -> "EventTimeline":
        """Times at the window centres of an embedder with hop ``hop_s`` and window
        ``window_s`` (``None``: a sequence embedder), and the targets at those times."""
        check_frame_rate(hop_s)
        offsets = np.asarray(offsets, dtype=np.int64)
        counts = np.diff(offsets)
        in_clip = np.arange(offsets[-1]) - np.repeat(offsets[:-1], counts)
        times = frame_centres(int(counts.max(initial=0)), float(hop_s), window_s)[in_clip]
        targets = np.zeros((len(times), len(classes)), dtype=np.float32)
        for i, clip in enumerate(clips):
            a, b = offsets[i], offsets[i + 1]
            targets[a:b] = frame_targets(clip.events, times[a:b], classes)
        return cls(offsets, times, targets, clips, classes)

    def sequences(self, proba: np.ndarray, rows: np.ndarray) -> ClipSequences:
        """``proba`` (one row per entry of ``rows``) grouped by clip, in time order."""
        order = np.argsort(rows, kind="stable")
        rows, proba = np.asarray(rows)[order], np.asarray(proba)[order]
        clip_of = np.searchsorted(self.offsets, rows, side="right") - 1
        out = ClipSequences({}, {}, {})
        for part in np.split(np.arange(len(rows)), np.flatnonzero(np.diff(clip_of)) + 1):
            if not len(part):
                continue
            clip = self.clips[clip_of[part[0]]]
            out.probs[clip.id] = proba[part]
            out.times[clip.id] = self.times[rows[part]]
            out.references[clip.id] = clip.events
        return out

    def score(self, val: ClipSequences, test: ClipSequences, rows: dict[str, dict[str, Any]],
              task: TaskInfo) -> tuple[TestScores, PostprocessingRecord]:
        """Choose the post-processing on ``val``, detect and score the events of ``test``.

        ``rows``: the start of the predictions rows of each test clip (id, fold, repeat);
        ``task``: its primary metric chooses, its ``event_grid`` (if any) is the grid.
        Returns the scores (one predictions row per detected event) and the chosen point.
        """
        known = KIND_METRICS["event"]
        metric = task.primary_metric if task.primary_metric in known else known[0]
        grid = None if task.event_grid is None else {
            "median_filter_ms": task.event_grid[0], "min_duration": task.event_grid[1]}
        warnings = []
        if not any(val.references.values()):
            warnings.append("the validation clips hold no event: every post-processing point "
                            "scores alike and the grid's first is used")
        post, val_value = choose_postprocessing(val.probs, val.times, val.references,
                                                self.classes, metric, grid)
        estimates = {k: events_from_probabilities(test.probs[k], test.times[k], self.classes,
                                                  post) for k in test.references}
        found = event_scores(test.references, estimates, self.classes)
        predictions = []
        for clip_id, events in estimates.items():
            p, t = test.probs[clip_id], test.times[clip_id]
            for e in events:
                inside = (t >= e.start) & (t <= e.end)
                predictions.append({**rows[clip_id], "predicted": e.label, "onset": e.start,
                                    "offset": e.end, "n_frames": int(inside.sum()),
                                    "score": float(p[inside, self.classes.index(e.label)].mean())})
        metrics = {k: json_number(found.values[k]) for k in known}
        chosen = PostprocessingRecord(median_filter_ms=post.median_filter_ms,
                                      min_duration_ms=post.min_duration_ms, val_metric=metric,
                                      val_value=json_number(val_value))
        return TestScores(metric, metrics, warnings=warnings, predictions=predictions), chosen
