"""``bench sweep``: run every run of a study, resumably, then summarise and report.

Resuming needs nothing of its own: the runner names each run directory after everything that
changes its numbers, returns a finished run without recomputing it, and keeps each finished
(fold, repeat) of an unfinished run in ``partial/``; embeddings already in the store are not
computed again. So a killed sweep, started again, continues where it stopped. With
``keep_going`` a failing run is recorded and the sweep goes on; the study's state, summary and
report go to ``<results dir>/studies/<study>/`` (``bench.studies.state``).
"""

from __future__ import annotations

import time
from typing import Callable

# format_study_summary: the command line prints the summary from here
from bench.studies.state import (StudyRun, SweepResult, error_text,  # noqa: F401
                                 format_study_summary, study_dir, write_study_report,
                                 write_study_state)
from bench.studies.study import Study
from bench.tracking.tracked import execute


def run_sweep(study: Study, *, keep_going: bool = False, progress: bool = True,
              report: bool = True, log: Callable[[str], None] | None = None) -> SweepResult:
    """Run every planned run of ``study`` (resumably), then write its summary and report.

    Parameters
    ----------
    study : Study
    keep_going : bool
        Record a failing run and go on; otherwise stop at the first failure (finished runs
        stay finished either way).
    progress : bool
        Progress bars of each run.
    report : bool
        Write ``bench report`` of the study's runs at the end.
    log : callable, optional
        Receives status lines.

    Returns
    -------
    SweepResult
    """
    say = log or (lambda msg: None)
    study.check_names()
    plan = study.plan()
    out = SweepResult(study, [StudyRun(i, c) for i, c in enumerate(plan)], study_dir(study))
    for o in out.outcomes:
        cfg = o.config
        label = (f"[{o.index + 1}/{len(plan)}] {cfg.embedder} on {cfg.dataset} "
                 f"({cfg.protocol.preset}, seed {cfg.seed})")
        say(label)
        t0 = time.perf_counter()
        try:
            # the runner says whether the run was finished before or resumed, and logs it to
            # MLflow (also a run found finished: logging is idempotent)
            done = execute(cfg, progress=progress, log=say)
        except KeyboardInterrupt:
            o.status, o.error = "failed", "interrupted"
            o.seconds = time.perf_counter() - t0
            write_study_state(out)
            raise
        except Exception as exc:  # noqa: BLE001 - with keep_going any failure is recorded
            o.status, o.error = "failed", error_text(exc)
            o.seconds = time.perf_counter() - t0
            write_study_state(out)
            say(f"{label} failed: {o.error}")
            if not keep_going:
                raise
            continue
        o.seconds = time.perf_counter() - t0
        o.run_dir, o.record = done.run_dir, done.record
        o.status = "done earlier" if done.reused else "computed"
        if cfg.tracking:
            o.tracked = done.logged.status if done.logged is not None else "failed"
        write_study_state(out)
    if report:
        write_study_report(out, say)
    write_study_state(out)
    return out
