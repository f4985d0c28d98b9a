"""``bench sweep``: run every run of a study, resumably, then summarise and report.

Resuming needs nothing of its own: the runner names each run directory after everything that
changes its numbers, returns a finished run without recomputing it, and keeps each finished
(fold, repeat) of an unfinished run in ``partial/``; embeddings already in the store are not
computed again. So a killed sweep, started again, continues where it stopped. With
``keep_going`` a failing run is recorded and the sweep goes on; the study's state, summary and
report go to ``<results dir>/studies/<study>/``.
"""

from __future__ import annotations

import json
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.config import RunConfig, default_dir
from bench.errors import BenchError
from bench.results import RESULTS_FILE, PARTIAL_DIR, now_iso, write_json
from bench.study import Study

STUDIES_DIR = "studies"


@dataclass
class RunOutcome:
    """What happened to one planned run.

    ``status``: ``computed`` (now), ``done earlier`` (found finished), ``failed``, or
    ``not run`` (the sweep stopped before it).
    """

    index: int
    config: RunConfig
    status: str = "not run"
    run_dir: Path | None = None
    record: dict[str, Any] | None = None
    error: str | None = None
    seconds: float = 0.0
    tracked: str | None = None


@dataclass
class SweepResult:
    study: Study
    outcomes: list[RunOutcome]
    study_dir: Path
    report: dict[str, Path] = field(default_factory=dict)
    report_note: str = ""

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def results_dir(study: Study) -> Path:
    return Path(study.run.get("out_dir") or default_dir("results"))


def study_dir(study: Study) -> Path:
    return results_dir(study) / STUDIES_DIR / _slug(study.name)


# -- status of planned runs (no computing) -------------------------------------------------------

def existing_status(config: RunConfig) -> tuple[str, Path | None]:
    """``("done", dir)`` when a finished run of ``config`` is on disk, ``("started k", dir)``
    when a run directory of this embedder, dataset, preset and seed holds ``k`` finished
    (fold, repeat) pieces, else ``("todo", None)``. Nothing is loaded or computed."""
    from bench import datasets, embedders

    try:
        ds_name = datasets.create(config.dataset, data_dir=config.data_dir, download=False).name
        spec_name = embedders.create(config.embedder, download=False).spec.name
    except BenchError:
        return "todo", None
    prefix = f"{_slug(ds_name)}-{_slug(spec_name)}-{config.protocol.preset}-s{config.seed}-"
    started: tuple[int, Path | None] = (0, None)
    if not config.out_dir.is_dir():
        return "todo", None
    for d in sorted(config.out_dir.glob(prefix + "*")):
        res = d / RESULTS_FILE
        if res.is_file():
            try:
                rec = json.loads(res.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if _same_run(rec, config):
                return "done", d
        else:
            k = len(list((d / PARTIAL_DIR).glob("*.json")))
            if k > started[0]:
                started = (k, d)
    if started[1] is not None:
        return f"started {started[0]}", started[1]
    return "todo", None


def _same_run(rec: dict[str, Any], config: RunConfig) -> bool:
    want = config.protocol.to_dict()
    have = dict(rec.get("protocol") or {})
    if want.get("repeats") is None:
        want.pop("repeats")
        have.pop("repeats", None)
    return (have == want and rec.get("seed") == config.seed
            and (rec.get("tags") or {}) == dict(config.tags))


def _slug(text: str) -> str:
    # the runner's run-directory naming (bench.runner), to find its directories
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "x"


# -- running ---------------------------------------------------------------------------------

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
    from bench.runner import run as run_one

    say = log or (lambda msg: None)
    study.check_names()
    plan = study.plan()
    out = SweepResult(study, [RunOutcome(i, c) for i, c in enumerate(plan)], study_dir(study))
    tracking = bool(study.run.get("tracking", True))
    for o in out.outcomes:
        cfg = o.config
        label = (f"[{o.index + 1}/{len(plan)}] {cfg.embedder} on {cfg.dataset} "
                 f"({cfg.protocol.preset}, seed {cfg.seed})")
        before, _ = existing_status(cfg)
        say(label + (" (finished earlier)" if before == "done" else
                     f" (resuming: {before.split()[1]} fold x repeat done)"
                     if before.startswith("started") else ""))
        t0 = time.perf_counter()
        try:
            # tracking is done here, for finished-earlier runs too (idempotent)
            o.run_dir, o.record = run_one(cfg.replace(tracking=False), progress=progress,
                                          log=say)
            o.status = "done earlier" if before == "done" else "computed"
        except KeyboardInterrupt:
            o.status, o.error = "failed", "interrupted"
            o.seconds = time.perf_counter() - t0
            _write_state(out)
            raise
        except Exception as exc:  # noqa: BLE001 - with keep_going any failure is recorded
            o.status, o.error = "failed", _describe(exc)
            o.seconds = time.perf_counter() - t0
            _write_state(out)
            say(f"{label} failed: {o.error}")
            if not keep_going:
                raise
            continue
        o.seconds = time.perf_counter() - t0
        if tracking:
            from bench.tracking import log_run

            logged = log_run(o.record, o.run_dir, tracking_uri=study.run.get("tracking_uri"))
            o.tracked = logged.status if logged is not None else "failed"
        _write_state(out)
    if report:
        _write_report(out, say)
    _write_state(out)
    return out


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BenchError):
        return str(exc)
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _write_report(out: SweepResult, say: Callable[[str], None]) -> None:
    records = [o.record for o in out.outcomes if o.record is not None]
    if not records:
        out.report_note = "no finished runs to report on"
        return
    try:
        from bench.report import ReportConfig, write_report
    except ImportError:
        out.report_note = "bench.report is not available; the summary table stands alone"
        return
    try:
        reference = None
        if out.study.reference:
            from bench.check import load_reference

            reference = load_reference(out.study.reference)
        out.report = write_report(records, reference, ReportConfig(
            out_dir=out.study_dir / "report", title=f"bench study {out.study.name}"))
    except BenchError as exc:
        out.report_note = f"report not written: {exc}"
        say(f"warning: {out.report_note}")


def _write_state(out: SweepResult) -> None:
    """``sweep.json`` (machine-readable) and ``summary.md`` in the study directory."""
    from bench import tables

    rows = []
    for o in out.outcomes:
        acc = (o.record or {}).get("accuracy") or {}
        rows.append({"index": o.index, "embedder": o.config.embedder, "dataset": o.config.dataset,
                     "protocol": o.config.protocol.preset, "seed": o.config.seed,
                     "status": o.status, "run_dir": str(o.run_dir) if o.run_dir else None,
                     "accuracy_mean": acc.get("mean"), "accuracy_std": acc.get("std"),
                     "n": acc.get("n"), "seconds": round(o.seconds, 3), "error": o.error,
                     "tracked": o.tracked})
    state = {"study": out.study.name, "updated": now_iso(), "n_runs": len(rows),
             "counts": _counts(out.outcomes), "runs": rows,
             "report": {k: str(v) for k, v in out.report.items()},
             "report_note": out.report_note}
    write_json(out.study_dir / "sweep.json", state)
    from bench.fileio import atomic_write_text

    headers, table = summary_rows(out)
    atomic_write_text(out.study_dir / "summary.md",
                      f"# Study {out.study.name}\n\n" + tables.markdown(headers, table) + "\n")


def _counts(outcomes: list[RunOutcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return counts


def summary_rows(out: SweepResult) -> tuple[list[str], list[list[Any]]]:
    """The final table: one row per planned run."""
    from bench.tables import pct

    headers = ["#", "embedder", "dataset", "protocol", "seed", "status", "accuracy", "sd",
               "n", "time", "run"]
    rows = []
    for o in out.outcomes:
        acc = (o.record or {}).get("accuracy") or {}
        rows.append([o.index + 1, o.config.embedder, o.config.dataset, o.config.protocol.preset,
                     o.config.seed, o.status if not o.error else f"{o.status}: {o.error[:60]}",
                     pct(acc.get("mean")) if acc else "", pct(acc.get("std")) if acc else "",
                     acc.get("n", ""), _run_time(o),
                     o.run_dir.name if o.run_dir else ""])
    return headers, rows


def _run_time(o: RunOutcome) -> str:
    # the run's own compute time (also for runs finished earlier), else the time spent here
    total = ((o.record or {}).get("timings") or {}).get("total_s")
    seconds = total if isinstance(total, (int, float)) else o.seconds
    return f"{seconds:.0f} s" if seconds else ""


def format_summary(out: SweepResult) -> str:
    from bench import tables

    headers, rows = summary_rows(out)
    counts = ", ".join(f"{n} {s}" for s, n in _counts(out.outcomes).items())
    lines = [f"study {out.study.name}: {len(out.outcomes)} runs ({counts})",
             tables.text(headers, rows, align="rlllrlrrrrl")]
    lines.append(f"state: {out.study_dir / 'sweep.json'}")
    if out.report:
        lines.append(f"report: {out.report.get('markdown')}  {out.report.get('html')}")
    elif out.report_note:
        lines.append(f"report: {out.report_note}")
    return "\n".join(lines)
