"""Progress bars for long work: one place that decides how they look and where they go.

Bars go to stderr (stdout stays clean for tables and machine-readable output), show rate and
ETA, and fall back to sparse log lines when stderr is not a terminal (CI logs stay readable).
``BENCH_PROGRESS=0`` silences them.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterable


def enabled(requested: bool = True) -> bool:
    return requested and os.environ.get("BENCH_PROGRESS", "1") != "0"


def bar(iterable: Iterable[Any] | None = None, *, total: float | None = None, desc: str = "",
        unit: str = "it", enabled_: bool = True, unit_scale: bool = False, leave: bool = True):
    """A tqdm bar on stderr with rate and ETA; a no-op bar when progress is disabled."""
    from tqdm.auto import tqdm

    tty = sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, unit=unit, unit_scale=unit_scale,
                disable=not enabled(enabled_), leave=leave, file=sys.stderr,
                dynamic_ncols=True, mininterval=0.5 if tty else 30.0,
                smoothing=0.1)
