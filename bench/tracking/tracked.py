"""A run carried out and then logged to MLflow: what `bench run`, the sweep and the Python API do.

The runner itself knows nothing of tracking (tracking reads run records, so it sits above the
runs stage); this module puts the two together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from bench.runs.config import RunConfig
from bench.runs.record import RunRecord
from bench.runs.runner import RunOutcome
from bench.runs.runner import execute as execute_untracked
from bench.tracking.logger import log_run
from bench.tracking.session import resolve_tracking_uri


def execute(config: RunConfig, progress: bool = True,
            log: Callable[[str], None] | None = None) -> RunOutcome:
    """Carry out one run (or find it finished) and log it to MLflow once (idempotent).

    The parameters are those of :func:`bench.runs.runner.execute`; ``log`` also receives the
    line that says where the run was logged.
    """
    if config.tracking:  # a store that keeps nothing is refused before any work
        resolve_tracking_uri(config.tracking_uri, config.out_dir)
    outcome = execute_untracked(config, progress=progress, log=log)
    outcome.logged = track_outcome(config, outcome, log)
    return outcome


def track_outcome(config: RunConfig, outcome: RunOutcome,
                  log: Callable[[str], None] | None = None):
    """Log to MLflow once the results are safely on disk; ``log_run`` only warns on failure
    (through ``log``, else :mod:`warnings`: the run is never lost) and does nothing for a run
    it already holds."""
    if not config.tracking:
        return None
    logged = log_run(outcome.record, outcome.run_dir, tracking_uri=config.tracking_uri, log=log)
    if logged is not None and logged.status != "unchanged" and log is not None:
        log(f"mlflow: experiment {logged.experiment!r} in {logged.tracking_uri} "
            f"(browse with `bench ui`)")
    return logged


def run(config: RunConfig, progress: bool = True,
        log: Callable[[str], None] | None = None) -> tuple[Path, RunRecord]:
    """Carry out one run and log it; see :func:`execute`.

    Returns
    -------
    run_dir : Path
    record : RunRecord
        The ``results.json`` content.
    """
    outcome = execute(config, progress=progress, log=log)
    return outcome.run_dir, outcome.record
