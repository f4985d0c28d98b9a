"""A study's bookkeeping, whichever executor runs it: what happened to each planned run, the
study folder with its ``sweep.json`` and ``summary.md``, the report, the final table."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.analysis.check import load_reference
from bench.analysis.report import ReportConfig, write_report
from bench.errors import BenchError
from bench.io.fileio import atomic_write_text
from bench.runs.config import RunConfig
from bench.runs.identity import slug  # study folders are named as run folders are
from bench.runs.record import RunRecord, now_iso, write_json
from bench.studies.study import Study
from bench.util import tables
from bench.util.tables import pct

STUDIES_DIR = "studies"


@dataclass
class StudyRun:
    """What happened to one planned run.

    ``status``: ``computed`` (now), ``done earlier`` (found finished), ``failed``, or
    ``not run`` (the sweep stopped before it).
    """

    index: int
    config: RunConfig
    status: str = "not run"
    run_dir: Path | None = None
    record: RunRecord | None = None
    error: str | None = None
    seconds: float = 0.0
    tracked: str | None = None


@dataclass
class SweepResult:
    study: Study
    outcomes: list[StudyRun]
    study_dir: Path
    report: dict[str, Path] = field(default_factory=dict)
    report_note: str = ""

    @property
    def failed(self) -> list[StudyRun]:
        return [o for o in self.outcomes if o.status == "failed"]


def study_dir(study: Study) -> Path:
    """``<results dir>/studies/<study>/``, the results directory being the planned runs'."""
    return study.plan()[0].out_dir / STUDIES_DIR / slug(study.name)


def error_text(exc: BaseException) -> str:
    """One line for a failed run: a BenchError's message, else the exception and where."""
    if isinstance(exc, BenchError):
        return str(exc)
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def write_study_report(out: SweepResult, say: Callable[[str], None]) -> None:
    """The study's ``bench report`` of its finished runs (a failure to write it is noted)."""
    records = [o.record for o in out.outcomes if o.record is not None]
    if not records:
        out.report_note = "no finished runs to report on"
        return

    try:
        reference = None
        if out.study.reference:
            reference = load_reference(out.study.reference)
        out.report = write_report(records, reference, ReportConfig(
            out_dir=out.study_dir / "report", title=f"bench study {out.study.name}"))
    except BenchError as exc:
        out.report_note = f"report not written: {exc}"
        say(f"warning: {out.report_note}")


def write_study_state(out: SweepResult) -> None:
    """``sweep.json`` (machine-readable) and ``summary.md`` in the study directory."""
    rows = []
    for o in out.outcomes:
        acc = o.record.primary if o.record else None  # the primary metric (accuracy, mAP)
        rows.append({"index": o.index, "embedder": o.config.embedder, "dataset": o.config.dataset,
                     "protocol": o.config.protocol.preset, "seed": o.config.seed,
                     "status": o.status, "run_dir": str(o.run_dir) if o.run_dir else None,
                     "accuracy_mean": acc and acc.mean, "accuracy_std": acc and acc.std,
                     "n": acc and acc.n, "seconds": round(o.seconds, 3), "error": o.error,
                     "tracked": o.tracked})
    state = {"study": out.study.name, "updated": now_iso(), "n_runs": len(rows),
             "counts": _counts(out.outcomes), "runs": rows,
             "report": {k: str(v) for k, v in out.report.items()},
             "report_note": out.report_note}
    write_json(out.study_dir / "sweep.json", state)

    headers, table = summary_rows(out)
    atomic_write_text(out.study_dir / "summary.md",
                      f"# Study {out.study.name}\n\n" + tables.markdown(headers, table) + "\n")


def _counts(outcomes: list[StudyRun]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return counts


def summary_rows(out: SweepResult) -> tuple[list[str], list[list[Any]]]:
    """The final table: one row per planned run."""
    headers = ["#", "embedder", "dataset", "protocol", "seed", "status", "accuracy", "sd",
               "n", "time", "run"]
    rows = []
    for o in out.outcomes:
        acc = o.record.primary if o.record else None  # the primary metric (accuracy, mAP)
        rows.append([o.index + 1, o.config.embedder, o.config.dataset, o.config.protocol.preset,
                     o.config.seed, o.status if not o.error else f"{o.status}: {o.error[:60]}",
                     pct(acc.mean) if acc else "", pct(acc.std) if acc else "",
                     "" if acc is None or acc.n is None else acc.n, _run_time(o),
                     o.run_dir.name if o.run_dir else ""])
    return headers, rows


def _run_time(o: StudyRun) -> str:
    # the run's own compute time (also for runs finished earlier), else the time spent here
    total = o.record.timings.total_s if o.record else None
    seconds = total if isinstance(total, (int, float)) else o.seconds
    return f"{seconds:.0f} s" if seconds else ""


def format_study_summary(out: SweepResult) -> str:
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
