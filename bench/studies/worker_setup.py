"""Set-up of a local Dask worker process that ``bench sweep --executor dask:N`` starts (loaded
by the worker as a Dask *preload*: :func:`dask_setup` runs as the worker starts).

Ctrl-C in a terminal reaches every process of the foreground group, the workers included. A
worker that took it as its own would stop with a traceback from Dask's event loop (two per
worker), while its task is one the client is about to cancel anyway. The client decides:
the first Ctrl-C closes the cluster, a second kills the workers (``bench.util.interrupt``); the
workers ignore it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

#: the name a Nanny is given to load this module in its worker
PRELOAD = __name__


def dask_setup(worker: object) -> None:
    """Dask's preload hook: ignore SIGINT in this worker process."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def quiet() -> None:
    """Only Dask's errors from now on (in the client and, run there, in each worker): after a
    Ctrl-C, its warnings about the tasks it is told to cancel are expected, not news."""
    logging.getLogger("distributed").setLevel(logging.ERROR)


def quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (which outlives this process to remove the
    semaphores of its workers) with its leak warning off. A second Ctrl-C ends the client at
    once, before it could release the semaphores of the local workers it started; the tracker
    then removes them as it should, but would also print two lines of warning after the one
    line that says what happened. A tracker already running is left as it is."""
    from multiprocessing import resource_tracker

    saved = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [
        saved, "ignore:::multiprocessing.resource_tracker"]))
    try:
        resource_tracker.ensure_running()
    finally:
        if saved is None:
            os.environ.pop("PYTHONWARNINGS", None)
        else:
            os.environ["PYTHONWARNINGS"] = saved
