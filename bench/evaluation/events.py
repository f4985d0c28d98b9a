"""Event tasks: frame targets from timed events, events from frame probabilities, event metrics.

The three steps of a HEAR event task (sound event detection), as the HEAR evaluation kit does
them, all times in seconds:

1. :func:`frame_targets`: a clip's events -> a (frames, classes) 0/1 matrix at the embedder's
   frame timestamps (a frame is active for a label when ``start <= t < end``, the kit's
   interval-tree lookup);
2. :func:`events_from_probabilities`: a classifier's frame probabilities -> events, by a
   median filter, the threshold 0.5 (``p > 0.5``), runs of active frames (an event runs from
   its first active frame's timestamp to its last one's, as in the kit) and a minimum duration;
   the filter width and minimum duration are chosen on the validation split from
   :data:`HEAR_POSTPROCESSING_GRID` (:func:`choose_postprocessing`);
3. :func:`event_scores`: onset F-measure with 200 ms and 50 ms collars, onset+offset
   F-measure (50 ms collar, offset collar the larger of 50 ms and 20 % of the reference
   event's length) and the 1 s segment-based error rate, through ``sed_eval`` (the library
   HEAR's kit and the DCASE challenges score with), installed with ``pip install
   'bench-audio-embeddings[events]'``. F-measures are the micro ("overall") values over all events and
   classes; one without any estimated or reference event is NaN in sed_eval and 0 here, as in
   the kit.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from bench.datasets.clips import Event
from bench.errors import ConfigError

#: The HEAR 2021 evaluation kit's post-processing grid (heareval/predictions/
#: task_predictions.py, EVENT_POSTPROCESSING_GRID, "good for dcase"): median filter 250 ms,
#: minimum event duration 125 or 250 ms. A task overrides it in its metadata
#: (``evaluation_params.event_postprocessing_grid``: MAESTRO uses 150 ms and 50 ms);
#: :meth:`bench.datasets.hear_task.HearTaskDataset.postprocessing_grid` reads that.
HEAR_POSTPROCESSING_GRID = {"median_filter_ms": (250.0,), "min_duration": (125.0, 250.0)}
THRESHOLD = 0.5
#: metrics where lower is better (the rest are F-measures)
LOWER_IS_BETTER = frozenset({"segment_1s_er"})
_INSTALL = ("pip install 'bench-audio-embeddings[events]'   (sed_eval, the DCASE event metrics "
            "library)")


@dataclass(frozen=True)
class Postprocessing:
    """One point of the post-processing grid (milliseconds, as HEAR writes them)."""

    median_filter_ms: float
    min_duration_ms: float


@dataclass(frozen=True)
class EventScores:
    """The event metrics of a test set.

    Attributes
    ----------
    values : dict of str to float
        Metric name (``KIND_METRICS["event"]``) -> value.
    counts : dict of str to tuple of int
        For the F-measures: (true positives, false positives, false negatives); for the
        error rate: (substitutions, deletions, insertions, reference segments active).
    """

    values: dict[str, float]
    counts: dict[str, tuple[int, ...]]


def frame_targets(events: Sequence[Event], timestamps: np.ndarray,
                  classes: Sequence[str]) -> np.ndarray:
    """0/1 targets of one clip's frames.

    Parameters
    ----------
    events : sequence of Event
        The clip's events (seconds).
    timestamps : ndarray, shape (n_frames,)
        Each frame's time in seconds (the embedder's frame centres or starts).
    classes : sequence of str
        Column order.

    Returns
    -------
    ndarray, shape (n_frames, n_classes), float32
        1 where the frame's time lies in ``[start, end)`` of an event of that class.
    """
    t = np.asarray(timestamps, dtype=np.float64)
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(t), len(classes)), dtype=np.float32)
    for e in events:
        if e.label not in index:
            raise ValueError(f"event label {e.label!r} is not among the classes {list(classes)}")
        out[(t >= e.start) & (t < e.end), index[e.label]] = 1.0
    return out


def postprocessing_grid(grid: Mapping[str, Sequence[float]] | None = None) -> list[Postprocessing]:
    """Every combination of a grid (default :data:`HEAR_POSTPROCESSING_GRID`), in order."""
    grid = HEAR_POSTPROCESSING_GRID if grid is None else grid
    return [Postprocessing(float(m), float(d))
            for m, d in itertools.product(grid["median_filter_ms"], grid["min_duration"])]


def events_from_probabilities(probs: np.ndarray, timestamps: np.ndarray,
                              classes: Sequence[str], post: Postprocessing,
                              threshold: float = THRESHOLD) -> list[Event]:
    """One clip's events from its frame probabilities (the HEAR kit's post-processing).

    Parameters
    ----------
    probs : ndarray, shape (n_frames, n_classes)
        Per-frame class probabilities.
    timestamps : ndarray, shape (n_frames,)
        Frame times in seconds, increasing.
    classes : sequence of str
        Column labels.
    post : Postprocessing
        Median filter width (ms; ``round(width / mean frame step)`` frames, none when that is
        0) and minimum duration (ms; an event shorter than it is dropped).
    threshold : float
        A frame is active where the filtered probability is above it.

    Returns
    -------
    list of Event
        Sorted by start, then label.
    """
    from scipy.ndimage import median_filter

    p = np.asarray(probs, dtype=np.float64)
    t = np.asarray(timestamps, dtype=np.float64)
    if p.ndim != 2 or p.shape != (len(t), len(classes)):
        raise ValueError(f"probabilities {p.shape} must be (n_frames={len(t)}, "
                         f"n_classes={len(classes)})")
    if len(t) > 1 and post.median_filter_ms:
        width = int(round(post.median_filter_ms / (1000.0 * float(np.mean(np.diff(t))))))
        if width:
            p = median_filter(p, size=(width, 1))
    active = p > threshold
    events = []
    for c, label in enumerate(classes):
        padded = np.r_[False, active[:, c], False].astype(np.int8)
        starts = np.flatnonzero(np.diff(padded) == 1)
        ends = np.flatnonzero(np.diff(padded) == -1) - 1  # last active frame of each run
        for a, b in zip(starts, ends):
            # a tolerance of a microsecond: times are sums of float frame steps
            if (t[b] - t[a]) * 1000.0 >= post.min_duration_ms - 1e-3:
                events.append(Event(str(label), float(t[a]), float(t[b])))
    return sorted(events, key=lambda e: (e.start, e.label, e.end))


def choose_postprocessing(probs: Mapping[str, np.ndarray], timestamps: Mapping[str, np.ndarray],
                          references: Mapping[str, Sequence[Event]], classes: Sequence[str],
                          metric: str, grid: Mapping[str, Sequence[float]] | None = None
                          ) -> tuple[Postprocessing, float]:
    """The grid point with the best ``metric`` on the validation clips (the first on ties).

    Parameters
    ----------
    probs, timestamps : mapping of clip id to ndarray
        Each validation clip's frame probabilities and frame times.
    references : mapping of clip id to sequence of Event
        The clips' true events.
    classes : sequence of str
        Column labels.
    metric : str
        The task's primary metric (a name of ``KIND_METRICS["event"]``).
    grid : mapping, optional
        ``{"median_filter_ms": [...], "min_duration": [...]}``; default HEAR's.

    Returns
    -------
    (Postprocessing, float)
        The chosen point and its validation value.
    """
    best: tuple[Postprocessing, float] | None = None
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    for post in postprocessing_grid(grid):
        estimates = {k: events_from_probabilities(probs[k], timestamps[k], classes, post)
                     for k in references}
        value = event_scores(references, estimates, classes).values[metric]
        if best is None or sign * value > sign * best[1]:
            best = (post, value)
    assert best is not None, "the post-processing grid is empty"
    return best


def event_scores(references: Mapping[str, Sequence[Event]],
                 estimates: Mapping[str, Sequence[Event]],
                 classes: Sequence[str]) -> EventScores:
    """Onset F at 200 and 50 ms, onset+offset F and the 1 s segment error rate (sed_eval).

    Parameters
    ----------
    references : mapping of clip id to sequence of Event
        Every test clip's true events (a clip without events: an empty list).
    estimates : mapping of clip id to sequence of Event
        Detected events; a clip missing here has none.
    classes : sequence of str
        Every label.

    Raises
    ------
    ConfigError
        When sed_eval is not installed (the pip command in the hint).
    """
    sed_eval, dcase_util = _sed_eval()
    sound_event = sed_eval.sound_event
    labels = list(classes)
    event_based = {
        "event_onset_200ms_fms": sound_event.EventBasedMetrics(
            event_label_list=labels, t_collar=0.2, evaluate_onset=True, evaluate_offset=False),
        "event_onset_50ms_fms": sound_event.EventBasedMetrics(
            event_label_list=labels, t_collar=0.05, evaluate_onset=True, evaluate_offset=False),
        "event_onset_offset_50ms_20perc_fms": sound_event.EventBasedMetrics(
            event_label_list=labels, t_collar=0.05, percentage_of_length=0.2,
            evaluate_onset=True, evaluate_offset=True),
    }
    segment_based = sound_event.SegmentBasedMetrics(event_label_list=labels,
                                                    time_resolution=1.0)
    for clip_id, ref in references.items():
        ref_list = _container(dcase_util, clip_id, ref)
        est_list = _container(dcase_util, clip_id, estimates.get(clip_id, ()))
        for metric in (*event_based.values(), segment_based):
            metric.evaluate(reference_event_list=ref_list, estimated_event_list=est_list)
    values: dict[str, float] = {}
    counts: dict[str, tuple[int, ...]] = {}
    for name, metric in event_based.items():
        f = metric.results_overall_metrics()["f_measure"]["f_measure"]
        values[name] = 0.0 if f is None or math.isnan(f) else float(f)
        o = metric.overall
        counts[name] = (int(o["Ntp"]), int(o["Nsys"] - o["Ntp"]), int(o["Nref"] - o["Ntp"]))
    er = segment_based.results_overall_metrics()["error_rate"]["error_rate"]
    values["segment_1s_er"] = float(er)
    o = segment_based.overall
    counts["segment_1s_er"] = (int(o["S"]), int(o["D"]), int(o["I"]), int(o["Nref"]))
    return EventScores(values, counts)


def _container(dcase_util, clip_id: str, events: Sequence[Event]):
    return dcase_util.containers.MetaDataContainer(
        [{"filename": clip_id, "event_label": e.label, "onset": e.start, "offset": e.end}
         for e in events])


def require_sed_eval() -> None:
    """Raise the one-line :class:`ConfigError` (with the pip command) when sed_eval is not
    importable: an event task checks this before any slow work."""
    _sed_eval()


def _sed_eval():
    """Import sed_eval (and its dcase_util), or say how to install them."""
    try:
        with warnings.catch_warnings():
            # dcase_util imports pkg_resources, which warns that it is deprecated
            warnings.simplefilter("ignore")
            import dcase_util
            import sed_eval
    except ImportError as exc:
        raise ConfigError(f"event metrics need sed_eval, which cannot be imported here "
                          f"({exc})", hint=_INSTALL) from None
    return sed_eval, dcase_util
