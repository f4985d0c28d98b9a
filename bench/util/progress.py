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


def note(message: str, *, enabled_: bool = True) -> None:
    """One status line on stderr that goes with the progress bars (a slow step starting):
    written between bars without tearing them, and silenced with them."""
    if not enabled(enabled_):
        return
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)
