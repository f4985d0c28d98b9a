"""The metrics ``bench check --against`` compares, and their tolerances.

One table, :data:`METRICS`, keyed by the name used in ``--tolerance`` and in the JUnit test cases.
Each entry says how to read the metric's per-(fold, repeat) values from a run record and which
rule compares an old run with a new one: ``mean`` (the mean over (fold, repeat) moved by more
than the tolerance) or ``per-unit`` (the mean over the old run's (fold, repeat) keys of
``|new - old|``, which catches folds that moved in opposite directions under an unchanged mean).
A new metric (multilabel mAP, event onset F) is one more entry whose ``values`` reads its part of
the record and returns ``None`` for records that do not have it.

Tolerances are written ``acc=1.0,acc.fold=3`` (absolute, in the metric's unit) or ``acc=2sd``
(that many sample standard deviations of the old run's values over (fold, repeat)); a bare
number is the tolerance of ``acc`` (the form ``--tolerance 2`` had before metrics had names).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Callable, Optional

from bench.analysis.check import DEFAULT_TOLERANCE, FOLD_TOLERANCE_FACTOR
from bench.analysis.factors import view
from bench.errors import ConfigError
from bench.runs.record import RunRecord

#: per (test fold as a string, repeat): the metric in its shown unit
UnitValues = dict[tuple[str, int], float]


def _accuracy(record: RunRecord) -> Optional[UnitValues]:
    return {k: 100.0 * v for k, v in view(record).accuracy.items()}


@dataclass(frozen=True)
class Metric:
    """One row of the metric table.

    Attributes
    ----------
    name : str
        The key in ``--tolerance`` and the JUnit test case name.
    label : str
        How tables name it (with its unit).
    values : callable
        ``record -> {(fold, repeat): value}`` in the shown unit, or ``None`` when the record does
        not hold the metric (then the metric is skipped for that pair).
    rule : str
        ``mean`` or ``per-unit`` (see the module docstring).
    default_tolerance : float or None
        In the shown unit; ``None``: ``FOLD_TOLERANCE_FACTOR`` times the tolerance of ``base``.
    base : str or None
        The metric whose tolerance a ``per-unit`` metric's default derives from.
    """

    name: str
    label: str
    values: Callable[[RunRecord], Optional[UnitValues]]
    rule: str
    default_tolerance: float | None
    base: str | None = None


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("acc", "accuracy %", _accuracy, "mean", DEFAULT_TOLERANCE),
    Metric("acc.fold", "per-fold accuracy, mean |d| (points)", _accuracy, "per-unit", None,
           base="acc"),
)}


@dataclass(frozen=True)
class Tolerance:
    """An allowed change: ``value`` in the metric's unit, or ``value`` standard deviations of the
    old run's values over (fold, repeat) when ``in_sd``."""

    value: float
    in_sd: bool = False

    def resolve(self, sd: float | None) -> float:
        """The tolerance in the metric's unit, given the old run's sd (ignored if absolute)."""
        if not self.in_sd:
            return self.value
        return self.value * (sd or 0.0)

    def scaled(self, factor: float) -> "Tolerance":
        return Tolerance(self.value * factor, self.in_sd)

    def __str__(self) -> str:
        return f"{self.value:g}sd" if self.in_sd else f"{self.value:g}"


def _parse_value(text: str, name: str) -> Tolerance:
    t = text.strip().lower()
    in_sd = t.endswith("sd")
    number = t[:-2] if in_sd else t
    try:
        value = float(number)
    except ValueError:
        raise ConfigError(f"tolerance of {name}: expected a number or a number followed by 'sd', "
                          f"found {text!r}", hint="e.g. --tolerance acc=1.0 or acc=2sd") from None
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"tolerance of {name} must be a finite number >= 0, found {text!r}")
    return Tolerance(value, in_sd)


def parse_tolerances(spec: str | None, fold_tolerance: float | None = None
                     ) -> dict[str, Tolerance]:
    """Every metric's tolerance from a ``--tolerance`` text and the older ``--fold-tolerance``.

    Parameters
    ----------
    spec : str or None
        ``2`` (the tolerance of ``acc``), ``acc=1.0,acc.fold=3``, ``acc=2sd`` or a mix
        (``2,acc.fold=4``). Metrics not named keep their defaults; a ``per-unit`` metric not named
        gets ``FOLD_TOLERANCE_FACTOR`` times its base's tolerance.
    fold_tolerance : float, optional
        ``--fold-tolerance``: the tolerance of ``acc.fold`` in points.

    Raises
    ------
    ConfigError
        For an unknown metric, a malformed number, a negative value, or ``acc.fold`` given both
        ways.
    """
    given: dict[str, Tolerance] = {}
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip() if sep else "acc"
        if name not in METRICS:
            raise ConfigError(f"--tolerance names an unknown metric {name!r}; known: "
                              f"{', '.join(METRICS)}", hint="e.g. --tolerance acc=1.0,acc.fold=3")
        if name in given:
            raise ConfigError(f"--tolerance gives {name} twice")
        given[name] = _parse_value(value if sep else part, name)
    if fold_tolerance is not None:
        if "acc.fold" in given:
            raise ConfigError("acc.fold is given by both --tolerance and --fold-tolerance",
                              hint="keep one of them")
        given["acc.fold"] = _parse_value(str(fold_tolerance), "acc.fold")
    out: dict[str, Tolerance] = {}
    for m in METRICS.values():
        if m.name in given:
            out[m.name] = given[m.name]
        elif m.default_tolerance is not None:
            out[m.name] = Tolerance(m.default_tolerance)
    for m in METRICS.values():
        if m.name not in out:
            base = out.get(m.base or "", Tolerance(DEFAULT_TOLERANCE))
            out[m.name] = base.scaled(FOLD_TOLERANCE_FACTOR)
    return out


def spread(values: UnitValues) -> float:
    """Sample standard deviation (ddof 1) of the values over (fold, repeat); 0 for one value."""
    vals = list(values.values())
    return statistics.stdev(vals) if len(vals) > 1 else 0.0
