"""Ctrl-C on the command line: the first stops at the next safe point, the second at once.

Python turns SIGINT into a ``KeyboardInterrupt`` wherever the main thread happens to be: inside
torch (whose tracebacks then leak out of C++ callbacks), inside a ``finally`` that is stopping
a decoding pool (which then never stops, and the process hangs on exit). The command line
therefore installs :func:`handling`, under which

- the first Ctrl-C raises ``KeyboardInterrupt`` at once where that is harmless, and inside a
  :func:`deferred` region (training a fold, embedding a batch: torch at work) only records the
  request; the region raises it at its next :func:`checkpoint` (an epoch's or a clip's end) or
  when it ends. The command line then prints :data:`MESSAGE` and exits 130;
- a second Ctrl-C ends the process at once (exit 130): child processes (the decoding pool, local
  Dask workers) are killed first. Nothing is half-written, because every file bench writes is
  renamed into place whole.

Without :func:`handling` (the Python API, a Dask worker) the regions and checkpoints do nothing
and Ctrl-C behaves as Python's default.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

#: what the command line prints when it stops on Ctrl-C
MESSAGE = "interrupted: finished work is stored; run the same command again to resume"
#: what it prints when a second Ctrl-C ends it before the first was reported
MESSAGE_AT_ONCE = ("interrupted (second Ctrl-C: stopped at once): finished work is stored; run "
                   "the same command again to resume")
EXIT_CODE = 130


class _State:
    installed = False
    signals = 0       # Ctrl-C received since handling() began
    depth = 0         # nesting of deferred() regions in the main thread
    pending = False   # a Ctrl-C arrived inside a region and was not raised yet
    reported = False  # the one line was printed


_state = _State()


@contextmanager
def handling() -> Iterator[None]:
    """Install the two-step Ctrl-C handling for the block (a command's whole run).

    When the block ends by an interrupt, the handler stays installed, so that a second Ctrl-C
    during the interpreter's own clean-up (joining pools, closing a cluster) still ends the
    process at once instead of interrupting that clean-up half-way."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    _state.installed, _state.signals, _state.depth = True, 0, 0
    _state.pending = _state.reported = False
    interrupted = False
    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        interrupted = _state.signals > 0
        raise
    finally:
        if not interrupted:
            signal.signal(signal.SIGINT, previous)
            _state.installed = False


@contextmanager
def deferred() -> Iterator[None]:
    """A region where a first Ctrl-C waits for the next :func:`checkpoint` or the region's end
    (regions nest; only the outermost end raises)."""
    if not _state.installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
    if _state.depth == 0:
        checkpoint()


def checkpoint() -> None:
    """A safe point: raise ``KeyboardInterrupt`` if Ctrl-C was pressed and is still pending."""
    if _state.pending:
        _state.pending = False
        raise KeyboardInterrupt


def checkpoints(items: Iterable[T]) -> Iterator[T]:
    """``items``, consumed inside one :func:`deferred` region with a :func:`checkpoint` before
    each (a loop whose every turn ends at a safe point: a clip embedded and stored)."""
    with deferred():
        for item in items:
            checkpoint()
            yield item


def report() -> None:
    """Print :data:`MESSAGE` on stderr, once per interrupt."""
    if not _state.reported:
        _state.reported = True
        _write_line(MESSAGE)


def _on_sigint(signum, frame) -> None:
    _state.signals += 1
    if _state.signals > 1:
        _stop_now()
    if _state.depth > 0:
        _state.pending = True
        return
    raise KeyboardInterrupt


def _stop_now() -> None:
    """The second Ctrl-C: children killed, the one line (unless printed), exit 130."""
    if not _state.reported:
        _state.reported = True
        _write_line(MESSAGE_AT_ONCE)
    if "multiprocessing" in sys.modules:
        import multiprocessing

        for child in multiprocessing.active_children():
            try:
                child.kill()
            except (OSError, ValueError, AttributeError):
                pass  # gone already
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(EXIT_CODE)


def _write_line(text: str) -> None:
    try:
        sys.stderr.flush()
        # on a terminal a progress bar may hold the line without its newline
        lead = "\n" if sys.stderr.isatty() else ""
        os.write(sys.stderr.fileno(), (lead + text + "\n").encode())
    except (OSError, ValueError, AttributeError):  # no real stderr (a test's captured one)
        print(text, file=sys.stderr)
