"""One entry for ``bench sweep``: the study run here in order, on a process pool, or on Dask."""

from __future__ import annotations

from typing import Any

from bench.studies.dask_run import run_sweep_dask
from bench.studies.executor import Executor
from bench.studies.processes import run_sweep_processes
from bench.studies.state import SweepResult
from bench.studies.study import Study
from bench.studies.sweep import run_sweep


def run_study(study: Study, executor: Executor, **options: Any) -> SweepResult:
    """:func:`~bench.studies.sweep.run_sweep` for ``local``,
    :func:`~bench.studies.processes.run_sweep_processes` for ``processes:N``, else
    :func:`~bench.studies.dask_run.run_sweep_dask` (same options, same results)."""
    if executor.kind == "processes":
        return run_sweep_processes(study, executor, **options)
    if executor.distributed:
        return run_sweep_dask(study, executor, **options)
    return run_sweep(study, **options)
