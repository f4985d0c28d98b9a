"""The results schema: one run = one directory with a schema-versioned ``results.json``.

Layout of a run directory::

    <run_dir>/results.json       the record below (written last, atomically)
    <run_dir>/predictions.csv    one row per (test clip, repeat); event tasks: per detected event
    <run_dir>/partial/           one JSON per finished (fold, repeat), for resuming

Accuracies are fractions in [0, 1]; tables print them in percent. See docs/protocol.md
("Results"). A record is a :class:`RunRecord`; its ``folds`` are
:class:`~bench.evaluation.fold_record.FoldRecord` (built by the protocol), re-exported here.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Iterable

from bench.errors import DamagedRecordError, ResultsError
from bench.evaluation.fold_record import (EVENT_PREDICTION_FIELDS, ChosenPoint, FoldRecord,
                                         GridPointRecord)
from bench.io.fileio import atomic_write_text
from bench.io.records import read_record
from bench.runs.record_parts import (AccuracySummary, Environment, RepeatSpread, Timings,
                                     TrainingOverlap)
from bench.util.jsonrecord import ABSENT, NOT_STORED, JsonRecord

__all__ = ["AccuracySummary", "ChosenPoint", "Environment", "FoldRecord", "GridPointRecord",
           "RepeatSpread", "RunRecord", "Timings", "TrainingOverlap", "find_results",
           "format_summary", "git_sha", "load_runs", "now_iso", "read_results", "run_warnings",
           "untrained_by_class", "write_json", "write_predictions", "write_results"]

#: 2: the task's primary ``metric``, its ``summary`` and every metric's mean (``metrics``) per
#: run, ``metric``/``metrics`` per fold; ``accuracy`` absent on multilabel tasks. Version 1
#: files are still read (their metric is accuracy).
SCHEMA_VERSION = 2
RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.csv"
PARTIAL_DIR = "partial"
#: the tag naming the study a run belongs to (its MLflow experiment)
STUDY_TAG = "study"
_SKIP_DIRS = frozenset({PARTIAL_DIR, "mlartifacts", "mlruns"})



@dataclass(kw_only=True)
class RunRecord(JsonRecord):
    """One run: the content of ``results.json`` (schema v2; v1 records read as accuracy runs).

    ``embedder`` (the embedder's spec), ``dataset`` (its description, classes and splits),
    ``protocol`` (every resolved setting), ``config`` (every RunConfig field) and ``embedding``
    (the store's report) are kept as the mappings their owners write. ``path`` is where the
    record was read from (not stored).
    """

    NESTED: ClassVar = {"training_overlap": TrainingOverlap, "environment": Environment,
                        "accuracy": AccuracySummary, "summary": AccuracySummary,
                        "accuracy_over_repeats": RepeatSpread,
                        "folds": FoldRecord, "timings": Timings}

    schema_version: int
    run_id: str
    created: str
    bench_version: str
    git_sha: str | None
    embedder: dict[str, Any] | str
    #: null when there is none; absent from records written before it existed
    training_overlap: TrainingOverlap | None = ABSENT
    dataset: dict[str, Any] | str
    protocol: dict[str, Any]
    #: short hash of the protocol's identifying settings (absent from older records)
    protocol_fingerprint: str | None = ABSENT
    config: dict[str, Any] | None = None
    seed: int | None = None
    tags: dict[str, Any] | None = None
    environment: Environment
    #: single-label tasks (every v1 record); absent on multilabel tasks
    accuracy: AccuracySummary | None = ABSENT
    #: the primary metric's name and mean ± sd over (fold, repeat) (v2)
    metric: str | None = ABSENT
    summary: AccuracySummary | None = ABSENT
    #: every test metric's mean over the folds (v2)
    metrics: dict[str, float | None] | None = ABSENT
    accuracy_over_repeats: RepeatSpread | None = ABSENT
    per_class_accuracy: dict[str, float] | None = None
    folds: list[FoldRecord]
    timings: Timings
    embedding: dict[str, Any] | None = None
    skipped: list[dict[str, Any]] | None = None
    warnings: list[str] | None = None
    key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    path: str | None = field(default=None, metadata=NOT_STORED, compare=False)

    @classmethod
    def from_dict(cls, data: Any, source: str = "results") -> "RunRecord":
        """Read a record, refusing a newer schema than this bench knows."""
        if isinstance(data, dict):
            version = data.get("schema_version")
            if version is None:
                raise ResultsError(f"{source}: no schema_version; this is not a bench results "
                                   f"file")
            if not isinstance(version, int) or version > SCHEMA_VERSION:
                raise ResultsError(f"{source}: schema_version {version!r} is newer than this "
                                   f"bench understands ({SCHEMA_VERSION})",
                                   hint="upgrade bench to read it")
        return super().from_dict(data, source)

    @property
    def metric_name(self) -> str:
        """The task's primary metric (``accuracy`` for v1 records)."""
        return self.metric or "accuracy"

    @property
    def primary(self) -> AccuracySummary:
        """Mean ± sd of the primary metric over (fold, repeat)."""
        return self.summary or self.accuracy

    @property
    def embedder_name(self) -> str:
        return _name_of(self.embedder)

    @property
    def dataset_name(self) -> str:
        return _name_of(self.dataset)

    @property
    def preset(self) -> str:
        """The protocol preset (``?`` when the record does not say)."""
        return str(self.protocol.get("preset", "?"))

    @property
    def classes(self) -> list[str]:
        """The dataset's classes, in the order of the confusion matrices ([] when unknown)."""
        return list(self.dataset.get("classes") or []) if isinstance(self.dataset, dict) else []

    @property
    def run_seed(self) -> Any:
        """The root seed (``seed``, else the one in ``config``; ``None`` when neither)."""
        return self.seed if self.seed is not None else (self.config or {}).get("seed")

    @property
    def run_tags(self) -> dict[str, str]:
        """The tags as strings (``tags``, else the ones in ``config``)."""
        tags = self.tags or (self.config or {}).get("tags") or {}
        return {str(k): str(v) for k, v in tags.items()}

    @property
    def source(self) -> str:
        """Where the record came from, for messages: its path, else its run id."""
        return self.path or self.run_id


def _name_of(part: Any) -> str:
    """The name of an ``embedder`` or ``dataset`` entry: a mapping with ``name``, or a bare
    name (records written by other tools)."""
    return str(part.get("name")) if isinstance(part, dict) else str(part)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_sha() -> str | None:
    """Commit of the bench checkout in use, or ``None`` when not installed from a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    if out.returncode != 0 or len(sha) != 40:
        return None
    dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."],
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return sha + ("-dirty" if dirty else "")


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as strict JSON, atomically.

    NaN and infinities are refused (``json`` would write ``NaN`` / ``Infinity``, which strict
    readers reject): producers write ``null`` for a number that does not exist, and a
    non-finite number left anywhere is a :class:`ResultsError` naming where it is.
    """
    try:
        text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    except ValueError as exc:
        where = _non_finite(obj)
        raise ResultsError(f"not writing {path}: {where or 'a value'} is not a finite number "
                           f"(strict JSON has no NaN or Infinity)",
                           hint="this is a bug in what produced the record; please report it"
                           ) from exc
    atomic_write_text(Path(path), text + "\n")


def _non_finite(obj: Any, where: str = "") -> str | None:
    """The path (``folds[2].val_loss``) of the first NaN or infinity in ``obj``."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return where or "the value"
    if isinstance(obj, dict):
        items = ((f"{where}.{k}" if where else str(k), v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(obj))
    else:
        return None
    for sub, v in items:
        found = _non_finite(v, sub)
        if found:
            return found
    return None


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_results(run_dir: Path, record: RunRecord) -> Path:
    """Write ``results.json`` atomically; return its path."""
    path = Path(run_dir) / RESULTS_FILE
    write_json(path, record.to_dict())
    return path


def read_results(path: Path) -> RunRecord:
    """Read one run: a ``results.json`` or a run directory holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.exists():
        raise ResultsError(f"no results file at {path}",
                           hint="pass a run directory made by `bench run` or its results.json")
    try:
        record = read_record(path, RunRecord, "a run's results")
    except DamagedRecordError as exc:
        # a run's final record is the user's: reported, never set aside or deleted
        exc.hint = exc.hint or (f"bench leaves it as it is: restore it from a copy, or move it "
                                f"away and run the same `bench run` again (or with --rerun) to "
                                f"compute the run anew")
        raise
    except OSError as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from exc
    record.path = str(path)
    return record


def find_results(paths: Iterable[Path]) -> list[Path]:
    """Expand paths into results files: a file as is, a directory searched recursively."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            # partial/ holds per-fold pieces; MLflow's artifact store (bench.tracking.logger keeps it
            # in the results directory) holds copies of results.json that are not runs
            hits = sorted(q for q in p.rglob(RESULTS_FILE)
                          if not _SKIP_DIRS.intersection(q.relative_to(p).parts))
            if not hits:
                raise ResultsError(f"no {RESULTS_FILE} under {p}")
            found.extend(hits)
        else:
            raise ResultsError(f"no such file or directory: {p}")
    return found


def load_runs(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[RunRecord]:
    """Every run under ``paths``: a run directory, a ``results.json``, a folder searched
    recursively, or several of them.

    Raises
    ------
    ResultsError
        When a path holds no results file or a file is not a bench record.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return [read_results(p) for p in find_results([Path(p) for p in paths])]


def write_predictions(run_dir: Path, rows: list[dict[str, Any]], events: bool = False) -> Path:
    """Write ``predictions.csv`` (one row per test clip and repeat; ``events``: one per
    detected event, with its onset and offset in seconds) atomically."""
    path = Path(run_dir) / PREDICTIONS_FILE
    fields = EVENT_PREDICTION_FIELDS if events else [
        "clip_id", "test_fold", "repeat", "label", "predicted", "correct", "n_frames", "score"]
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())
    return path


def format_summary(record: RunRecord) -> str:
    """A readable table of one run: per (fold, repeat) accuracy and chosen grid point."""
    seed = record.run_seed
    fp = f" [{record.protocol_fingerprint}]" if record.protocol_fingerprint else ""
    # what validation chose by: the grid's figure (an event task's frame mAP), else the metric
    val = next((g.val_metric for f in record.folds for g in f.grid if g.val_metric),
               record.metric_name)
    lines = [f"{record.embedder_name} on {record.dataset_name}  (protocol {record.preset}{fp}, "
             f"seed {'?' if seed is None else seed})",
             f"{'fold':>6} {'repeat':>6} {'test ' + _metric_abbrev(record.metric_name):>9} "
             f"{'val ' + _metric_abbrev(val):>8} {'lr':>8} {'wd':>8} {'epochs':>6}"]
    for f in record.folds:
        chosen = f.chosen
        epochs = "" if chosen.epochs is None else chosen.epochs
        lines.append(f"{str(f.test_fold):>6} {f.repeat:>6} {100 * f.score:8.2f}% "
                     f"{_pct(f.val_accuracy)} {_sci(chosen.lr)} "
                     f"{_sci(chosen.weight_decay)} {epochs!s:>6}")
    acc = record.primary
    n = len(record.folds) if acc.n is None else acc.n
    lines.append(f"{record.metric_name}: {100 * acc.mean:.2f}% ± {100 * acc.std:.2f} "
                 f"(mean ± sd over {n} fold×repeat){fp}")
    others = {k: v for k, v in (record.metrics or {}).items() if k != record.metric_name}
    if others:
        lines.append("other metrics (mean): " + ", ".join(
            f"{k} {'n/a' if v is None else f'{v:.4f}'}" for k, v in others.items()))
    spread = record.accuracy_over_repeats
    if spread and spread.n > 1:
        lines.append(f"over repeats: {100 * spread.mean:.2f}% ± {100 * spread.std:.2f} "
                     f"(sd of {spread.n} repeat means; min {100 * spread.min:.2f}%, "
                     f"max {100 * spread.max:.2f}%)")
    overlap = record.training_overlap
    if overlap:
        lines.append(f"TRAINING-DATA OVERLAP: the embedder was trained on "
                     f"{', '.join(overlap.declared)} = {overlap.dataset}; not an "
                     f"out-of-sample accuracy")
    t = record.timings
    lines.append(f"time: embed {t.embed_s:.1f} s, classify {t.classify_s:.1f} s")
    lines += [f"warning: {w}" for w in run_warnings(record)]
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "    n/a " if x is None or x != x else f"{100 * x:7.2f}%"


def _metric_abbrev(metric: str) -> str:
    return "acc" if metric == "accuracy" else metric.removeprefix("event_")


def run_warnings(record: RunRecord) -> list[str]:
    """Every warning of a run, its own then each fold's (prefixed with the fold and repeat),
    each once: what the summary and the report print."""
    out = [str(w) for w in record.warnings or ()]
    for f in record.folds:
        out += [f"fold {f.test_fold} repeat {f.repeat}: {w}" for w in f.warnings or ()]
    return list(dict.fromkeys(out))


def untrained_by_class(record: RunRecord) -> dict[str, list[str]]:
    """Class -> the test folds in which it had no training clip (so its clips there were
    scored wrong whatever the embedding); empty for a sound run."""
    out: dict[str, list[str]] = {}
    for f in record.folds:
        for cls in f.untrained_classes or {}:
            fold = str(f.test_fold)
            if fold not in out.setdefault(cls, []):
                out[cls].append(fold)
    return out


def _sci(x: float | None) -> str:
    """A grid value for the summary table; a classifier without one (logistic regression) has
    ``None`` there."""
    return f"{'-':>8}" if x is None or x != x else f"{x:>8.0e}"
