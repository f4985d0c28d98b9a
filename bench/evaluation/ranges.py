"""Range and type checks of numeric settings: one-line errors instead of a NaN grid.

A value from the command line, a study file (YAML) or the Python API is checked before anything
reads it: ``--lr nan`` or ``max_epochs: ten`` must fail at once, saying what was expected and
what was found, not train nine networks of NaN or write ``NaN`` into ``results.json``.
"""

from __future__ import annotations

import math
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


def check_numbers(p: Any) -> None:
    """Range and type checks of every numeric field, before anything else reads them (a study
    file or ``--lr nan`` must fail here, in one line, not train a grid of NaN)."""
    def fix(name: str, value: Any) -> None:
        object.__setattr__(p, name, value)

    fix("val_fraction", number("val_fraction", p.val_fraction, low=0, high=1, low_open=True,
                               high_open=True))
    for name in ("batch_size", "max_epochs", "patience"):
        fix(name, number(name, getattr(p, name), low=1, integer=True))
    if p.repeats is not None:
        fix("repeats", number("repeats", p.repeats, low=1, integer=True))
    fix("min_val_per_class", number("min_val_per_class", p.min_val_per_class, low=0,
                                    integer=True))
    for name in ("adam_beta1", "adam_beta2"):
        fix(name, number(name, getattr(p, name), low=0, high=1, high_open=True))
    fix("adam_eps", number("adam_eps", p.adam_eps, low=0, low_open=True))
    for name, what, low_open in (("learning_rates", "learning rate (--lr)", True),
                                 ("weight_decays", "weight decay (--wd)", False)):
        values = getattr(p, name)
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = (values,)
        fix(name, tuple(number(what, v, low=0, low_open=low_open, high=1) for v in values))
    sizes = p.hidden_sizes
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        sizes = (sizes,)
    fix("hidden_sizes", tuple(number("hidden size", h, low=1, integer=True) for h in sizes))
    fix("val_every", number("val_every", p.val_every, low=1, integer=True))
    for name in ("grid_sample", "train_per_class"):
        fix(name, number(name, getattr(p, name), low=0, integer=True))
    fix("dropout", number("dropout", p.dropout, low=0, high=1, high_open=True))
    fix("logreg_c", number("logreg_c", p.logreg_c, low=0, low_open=True))
