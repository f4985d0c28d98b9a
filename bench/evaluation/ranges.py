"""Range and type checks of numeric settings: one-line errors instead of a NaN grid.

A value from the command line, a study file (YAML) or the Python API is checked before anything
reads it: ``--lr nan`` or ``max_epochs: ten`` must fail at once, saying what was expected and
what was found, not train nine networks of NaN or write ``NaN`` into ``results.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.errors import ConfigError


def number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, integer: bool = False) -> Any:
    """``value`` as a finite float (or an int with ``integer``) inside the given range, else a
    one-line :class:`ConfigError` saying what was expected and what was found.

    Strings that spell a number (``"1e-3"``, as YAML 1.1 reads it) are accepted; booleans,
    NaN and infinities are not.
    """
    kind = "an integer" if integer else "a finite number"
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    expected = f"{kind}{' ' + ' and '.join(bounds) if bounds else ''}"
    bad = ConfigError(f"{name} must be {expected}, found {value!r}")
    if isinstance(value, bool):
        raise bad
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise bad from None
    if not math.isfinite(x) or (integer and x != int(x)):
        raise bad
    if (low is not None and (x < low or (low_open and x == low))) or \
            (high is not None and (x > high or (high_open and x == high))):
        raise bad
    return int(x) if integer else x


@dataclass(frozen=True)
class Range:
    """The allowed values of one numeric setting: bounds (open or closed) and whether it is a
    whole number. One table of these (:data:`RANGES`) serves both the checks of a protocol or
    run built from a study file or the Python API and the command line's options, so that a
    value refused in one place is refused in every other."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def check(self, name: str, value: Any) -> Any:
        """``value`` as checked by :func:`number` with these bounds."""
        return number(name, value, low=self.low, high=self.high, low_open=self.low_open,
                      high_open=self.high_open, integer=self.integer)


_COUNT = Range(low=1, integer=True)            # at least one
_SIZE = Range(low=0, integer=True)             # zero or more
_SHARE = Range(low=0, high=1, low_open=True, high_open=True)

#: every numeric setting bench takes (of a run, a protocol, an analysis, a sweep), by name
RANGES: dict[str, Range] = {
    "val_fraction": _SHARE,
    "batch_size": _COUNT, "max_epochs": _COUNT, "patience": _COUNT, "repeats": _COUNT,
    "val_every": _COUNT, "hidden_sizes": _COUNT, "threads": _COUNT, "embed_batch_size": _COUNT,
    "min_val_per_class": _SIZE, "grid_sample": _SIZE, "train_per_class": _SIZE,
    "adam_beta1": Range(low=0, high=1, high_open=True),
    "adam_beta2": Range(low=0, high=1, high_open=True),
    "dropout": Range(low=0, high=1, high_open=True),
    "adam_eps": Range(low=0, low_open=True),
    "logreg_c": Range(low=0, low_open=True),
    "learning_rates": Range(low=0, high=1, low_open=True),
    "weight_decays": Range(low=0, high=1),
    # seeds feed numpy's SeedSequence, which takes non-negative integers only
    "seed": Range(low=0, high=2**63 - 1, integer=True),
    # settings of the other commands (analysis, sweep, ui), checked the same way
    "alpha": _SHARE, "ci_level": _SHARE,
    "n_boot": Range(low=100, integer=True),     # fewer resamples give no usable CI
    "tolerance": Range(low=0),                  # accuracy points
    "gflops": Range(low=0, low_open=True),
    "startup_timeout": Range(low=0, low_open=True),   # seconds
    "port": Range(low=0, high=65535, integer=True),
}


def check_numbers(p: Any) -> None:
    """Range and type checks of every numeric field, before anything else reads them (a study
    file or ``--lr nan`` must fail here, in one line, not train a grid of NaN)."""
    def fix(name: str, value: Any) -> None:
        object.__setattr__(p, name, value)

    def many(values: Any) -> tuple[Any, ...]:
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            return (values,)
        return tuple(values)

    for name in ("val_fraction", "batch_size", "max_epochs", "patience", "min_val_per_class",
                 "adam_beta1", "adam_beta2", "adam_eps", "val_every", "grid_sample",
                 "train_per_class", "dropout", "logreg_c"):
        fix(name, RANGES[name].check(name, getattr(p, name)))
    if p.repeats is not None:
        fix("repeats", RANGES["repeats"].check("repeats", p.repeats))
    for name, what in (("learning_rates", "learning rate (--lr)"),
                       ("weight_decays", "weight decay (--wd)"),
                       ("hidden_sizes", "hidden size")):
        fix(name, tuple(RANGES[name].check(what, v) for v in many(getattr(p, name))))
