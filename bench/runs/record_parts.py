"""The parts of a run record (:class:`bench.runs.record.RunRecord`) beside its folds: the
accuracy summary and its spread over repeats, timings, the environment, a training-data
overlap. Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass, field
from typing import Any, Iterable

from bench.evaluation.fold_record import FoldRecord
from bench.util.jsonrecord import ABSENT, JsonRecord


@dataclass(kw_only=True)
class AccuracySummary(JsonRecord):
    """Mean and sample standard deviation (ddof=1; 0 for one value) over (fold, repeat)."""

    mean: float
    std: float
    n: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, values: Iterable[float]) -> "AccuracySummary":
        vals = [float(v) for v in values]
        if not vals:
            return cls(mean=float("nan"), std=float("nan"), n=0)
        mean = sum(vals) / len(vals)
        var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1) if len(vals) > 1 else 0.0
        return cls(mean=mean, std=math.sqrt(var), n=len(vals))


@dataclass(kw_only=True)
class RepeatSpread(JsonRecord):
    """Each repeat's mean of the primary metric (accuracy) over its folds, and their mean, sd (ddof 1), min and max: the
    spread over repeats (a few-shot protocol's subsets differ per repeat)."""

    values: list[float]
    mean: float
    std: float
    n: int
    min: float
    max: float
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, folds: Iterable[FoldRecord]) -> "RepeatSpread":
        by: dict[int, list[float]] = {}
        for f in folds:
            by.setdefault(int(f.repeat), []).append(f.score)
        values = [sum(v) / len(v) for _, v in sorted(by.items())]
        stats = AccuracySummary.of(values)
        return cls(values=values, mean=stats.mean, std=stats.std, n=stats.n,
                   min=min(values) if values else float("nan"),
                   max=max(values) if values else float("nan"))


@dataclass(kw_only=True)
class Timings(JsonRecord):
    """Seconds spent; ``embed_windows_per_s`` is ``None`` when every embedding was stored."""

    embed_s: float
    classify_s: float
    total_s: float | None = None
    embed_windows_per_s: float | None = ABSENT
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class Environment(JsonRecord):
    """Versions of what produced the numbers; a library not installed is ``None`` (a key a
    record lacks stays absent)."""

    python: str | None = ABSENT
    numpy: str | None = ABSENT
    platform: str | None = ABSENT
    device: str | None = ABSENT
    machine: str | None = ABSENT
    torch: str | None = ABSENT
    sklearn: str | None = ABSENT
    scipy: str | None = ABSENT
    soundfile: str | None = ABSENT
    resampy: str | None = ABSENT
    torch_threads: int | None = None
    device_name: str | None = None
    cpu_count: int | None = ABSENT
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def current(cls, device: str = "cpu") -> "Environment":
        """This process's versions, for a run on ``device``."""
        import numpy

        env = cls(python=platform.python_version(), numpy=numpy.__version__,
                  platform=platform.platform(), device=device, machine=platform.machine(),
                  cpu_count=os.cpu_count())
        # versions from the installed distributions' metadata: importing scikit-learn and
        # scipy only to read __version__ cost seconds in every fresh process (each Dask worker)
        from importlib.metadata import PackageNotFoundError, version

        for field_name, dist in (("torch", "torch"), ("sklearn", "scikit-learn"),
                                 ("scipy", "scipy"), ("soundfile", "soundfile"),
                                 ("resampy", "resampy")):
            try:
                setattr(env, field_name, version(dist))
            except PackageNotFoundError:  # not installed: recorded as null, not an error
                setattr(env, field_name, None)
        try:
            import torch

            env.torch_threads = torch.get_num_threads()
            if device.startswith("cuda") and torch.cuda.is_available():
                env.device_name = torch.cuda.get_device_name(torch.device(device))
        except ImportError:
            pass
        return env


@dataclass(kw_only=True)
class TrainingOverlap(JsonRecord):
    """The embedder declares it was trained on the dataset evaluated: ``declared`` are its
    ``trained_on`` entries that name ``dataset`` (docs/embedders.md)."""

    dataset: str
    declared: list[str]
    extra: dict[str, Any] = field(default_factory=dict)


def metric_means(folds: list[FoldRecord]) -> dict[str, float | None]:
    """Every test metric's mean over the folds that define it (``None`` where none does)."""
    names = list(dict.fromkeys(k for f in folds for k in (f.metrics or {})))
    out: dict[str, float | None] = {}
    for name in names:
        vals = [float(v) for f in folds for v in [(f.metrics or {}).get(name)] if v is not None]
        out[name] = sum(vals) / len(vals) if vals else None
    return out


def summaries(folds: list[FoldRecord], classes: tuple[str, ...]) -> dict[str, Any]:
    """The run record's summary fields from its folds (schema v2): the primary metric's name,
    mean ± sd (``summary``) and spread over repeats, every metric's mean, and on single-label
    tasks the accuracy summary and per-class accuracy as in v1 (the same numbers)."""
    metric = folds[0].metric_name if folds else "accuracy"
    out: dict[str, Any] = {"metric": metric,
                           "summary": AccuracySummary.of(f.score for f in folds),
                           "accuracy_over_repeats": RepeatSpread.of(folds),
                           "metrics": metric_means(folds)}
    if all(f.accuracy is not ABSENT and f.accuracy is not None for f in folds):
        out["accuracy"] = AccuracySummary.of(f.accuracy for f in folds)
        out["per_class_accuracy"] = {
            c: float(sum(r.per_class_accuracy.get(c, 0.0) for r in folds)
                     / max(1, sum(c in r.per_class_accuracy for r in folds)))
            for c in classes}
    return out
