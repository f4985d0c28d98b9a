"""Reference accuracies (the paper's, a CSV of your own, or earlier runs) and ``bench check``.

A reference maps (dataset, embedder) to a mean test accuracy in percent and, when it comes from a
results file, to the per-(fold, repeat) accuracies. ``bench check`` compares runs with it and says
which are out of tolerance; CI uses it against a golden results file to catch regressions.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from bench.analysis.factors import RunView, key_label, key_sort, view
from bench.datasets.names import dataset_key
from bench.errors import ConfigError, ResultsError
from bench.evaluation.ranges import RANGES
from bench.runs.record import RunRecord, load_runs
from bench.util import tables

#: Default tolerance, in accuracy points, for comparisons with the paper (see docs/analysis.md).
DEFAULT_TOLERANCE = 2.0
#: The per-fold tolerance defaults to this multiple of the mean tolerance (see docs/analysis.md).
FOLD_TOLERANCE_FACTOR = 3.0

@dataclass
class RefEntry:
    """One reference value.

    Attributes
    ----------
    accuracy : float
        Mean test accuracy in percent.
    per_fold : dict or None
        Percent accuracy per ``(test_fold, repeat)`` (references made from results files only).
    source : str
        Where the value comes from (``paper table2``, a file path).
    record : RunRecord or None
        The reference run's record, when the reference is a results file.
    """

    dataset: str
    embedder: str
    accuracy: float
    source: str
    note: str = ""
    per_fold: dict[tuple[str, int], float] | None = None
    record: RunRecord | None = None
    train_samples: str | None = None


@dataclass
class Reference:
    """Reference accuracies by (dataset, embedder), plus every row of a reference CSV (the paper's
    other figures, e.g. Figure 4's 'diminishing returns' sample counts)."""

    name: str
    entries: dict[tuple[str, str], RefEntry] = field(default_factory=dict)
    rows: list[dict[str, str]] = field(default_factory=list)

    def lookup(self, dataset: str, embedder: str, train_samples: str | None = None
               ) -> RefEntry | None:
        """The entry for (dataset, embedder); a Figure 4 checkpoint (a run tagged
        ``train_samples``) only matches a reference run with the same tag."""
        entry = self.entries.get((dataset_key(dataset), embedder))
        if entry is None or entry.train_samples != train_samples:
            return None
        return entry

    def metric_rows(self, metric: str, dataset: str | None = None) -> list[dict[str, str]]:
        return [r for r in self.rows if r.get("metric") == metric
                and (dataset is None or dataset_key(r.get("dataset", "")) == dataset_key(dataset))]


def paper_csv_path() -> Path:
    """The paper's numbers shipped inside the package (``bench/reference/paper.csv``)."""
    return Path(str(resources.files("bench").joinpath("reference", "paper.csv")))


def load_reference(spec: str | Path) -> Reference:
    """``paper``, a CSV like the paper's reference.csv, or results (a results.json or a directory
    of runs).

    Raises
    ------
    ResultsError
        When the file is missing, malformed, or holds two runs of one (dataset, embedder).
    """
    if str(spec) == "paper":
        return _from_csv(paper_csv_path().read_text(encoding="utf-8"), "paper")
    path = Path(spec)
    if not path.exists():
        raise ResultsError(f"no reference at {path}",
                           hint="use --reference paper, a CSV with columns dataset,embedder,value "
                                "(percent), or a results.json / run directory")
    if path.is_file() and path.suffix.lower() == ".csv":
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ResultsError(f"cannot read {path}: {exc}") from exc
        return _from_csv(text, str(path))

    return _from_runs(load_runs([path]), str(path))


def _from_csv(text: str, name: str) -> Reference:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    need = {"dataset", "embedder", "value"}
    if not reader.fieldnames or not need <= set(reader.fieldnames):
        raise ResultsError(f"{name}: a reference CSV needs the columns {sorted(need)} (and "
                           f"optionally table, metric, note); found {reader.fieldnames}")
    ref = Reference(name)
    for i, row in enumerate(reader, start=2):
        row = {k: (v or "").strip() for k, v in row.items() if k is not None}
        ref.rows.append(row)
        metric = row.get("metric") or "test_accuracy"
        if metric != "test_accuracy":
            continue
        try:
            value = float(row["value"])
        except ValueError:
            raise ResultsError(f"{name}: data row {i}: value {row['value']!r} is not a number "
                               f"(accuracy in percent)") from None
        if not 0.0 <= value <= 100.0:
            raise ResultsError(f"{name}: data row {i}: accuracy {value} is not a percentage",
                               hint="reference CSV values are percent (79.82), not fractions")
        key = (dataset_key(row["dataset"]), row["embedder"])
        if key in ref.entries:
            continue  # the first row wins (the paper's Table 2 comes before its text)
        where = f"{name} {row.get('table', '')}".strip()
        ref.entries[key] = RefEntry(key[0], key[1], value, where, row.get("note", ""))
    return ref


def _from_runs(records: list[RunRecord], name: str) -> Reference:
    ref = Reference(name)
    for rec in records:
        r = view(rec)
        key = (dataset_key(r.dataset), r.embedder)
        if key in ref.entries:
            raise ResultsError(f"{name}: two reference runs of {r.embedder} on {r.dataset} "
                               f"({ref.entries[key].source} and {r.path})",
                               hint="keep one run per (dataset, embedder) in a reference")
        ref.entries[key] = RefEntry(key[0], key[1], 100 * float(rec.primary.mean),
                                    r.path, per_fold={k: 100 * v for k, v in r.accuracy.items()},
                                    record=rec, train_samples=r.tags.get("train_samples"))
    return ref


# --------------------------------------------------------------------------- check

@dataclass
class CheckRow:
    """One run against its reference; accuracies in percent."""

    dataset: str
    embedder: str
    run: str
    ours: float
    reference: float | None
    tolerance: float
    source: str = ""
    fold_mad: float | None = None
    fold_tolerance: float | None = None
    missing_keys: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def delta(self) -> float | None:
        return None if self.reference is None else self.ours - self.reference

    @property
    def comparable(self) -> bool:
        return self.reference is not None

    @property
    def mean_ok(self) -> bool:
        # a hair of slack so a value printed as exactly the tolerance does not fail on rounding
        return self.delta is not None and abs(self.delta) <= self.tolerance + 1e-9

    @property
    def folds_ok(self) -> bool:
        if self.fold_tolerance is None:
            return True
        if self.missing_keys:
            return False
        return self.fold_mad is not None and self.fold_mad <= self.fold_tolerance + 1e-9

    @property
    def ok(self) -> bool:
        return self.comparable and self.mean_ok and self.folds_ok

    @property
    def status(self) -> str:
        if not self.comparable:
            return "no reference"
        if self.ok:
            return "ok"
        why = []
        if not self.mean_ok:
            why.append("mean")
        if not self.folds_ok:
            why.append("missing folds" if self.missing_keys else "per-fold")
        return "FAIL (" + ", ".join(why) + ")"


@dataclass
class CheckResult:
    rows: list[CheckRow]

    @property
    def comparable(self) -> list[CheckRow]:
        return [r for r in self.rows if r.comparable]

    @property
    def failed(self) -> list[CheckRow]:
        return [r for r in self.comparable if not r.ok]

    @property
    def exit_code(self) -> int:
        """0: every comparable run within tolerance; 1: some outside; 2: nothing comparable."""
        if not self.comparable:
            return 2
        return 1 if self.failed else 0


_PROTOCOL_IGNORE = {"repeats"}  # compared through the (fold, repeat) keys instead


def _differences(ours: RunRecord, ref: RunRecord) -> list[str]:
    notes = []
    po, pr = ours.protocol, ref.protocol
    diff = sorted(k for k in set(po) | set(pr) if k not in _PROTOCOL_IGNORE and po.get(k) != pr.get(k))
    if diff:
        notes.append("protocol differs from the reference in " + ", ".join(diff))
    if ours.run_seed != ref.run_seed:
        notes.append(f"seed {ours.run_seed} vs reference seed {ref.run_seed}")
    if isinstance(ours.embedder, dict) and (ours.embedder.get("weights_sha256")
                                           != _weights_sha256(ref)):
        notes.append("embedder weights differ from the reference's")
    do, dr = ours.dataset, ref.dataset
    if isinstance(do, dict) and isinstance(dr, dict):
        for k in ("version", "n_clips"):
            if do.get(k) != dr.get(k):
                notes.append(f"dataset {k} {do.get(k)} vs reference {dr.get(k)}")
    return notes


def _weights_sha256(record: RunRecord) -> Any:
    return record.embedder.get("weights_sha256") if isinstance(record.embedder, dict) else None


def check(records: Iterable[RunRecord], reference: Reference, *,
          tolerance: float = DEFAULT_TOLERANCE, fold_tolerance: float | None = None
          ) -> CheckResult:
    """Compare each run's mean accuracy (and per-fold accuracies, for a results reference) with
    the reference for the same (dataset, embedder).

    Parameters
    ----------
    records : iterable of RunRecord
    reference : Reference
    tolerance : float
        Largest allowed ``|ours - reference|`` of the mean accuracy, in points.
    fold_tolerance : float, optional
        Largest allowed mean over the reference's (fold, repeat) keys of
        ``|ours - reference|`` (points). Default ``FOLD_TOLERANCE_FACTOR * tolerance``. Used only
        when the reference holds per-fold values; a reference key missing from the run fails.

    Returns
    -------
    CheckResult
    """
    tolerance = RANGES["tolerance"].check("tolerance", tolerance)
    if fold_tolerance is not None:
        fold_tolerance = RANGES["tolerance"].check("fold tolerance", fold_tolerance)
    rows = []
    for rec in records:
        r: RunView = view(rec)
        entry = reference.lookup(r.dataset, r.embedder, r.tags.get("train_samples"))
        row = CheckRow(r.dataset, r.embedder, r.path, 100 * float(rec.primary.mean),
                       entry.accuracy if entry else None, tolerance,
                       source=entry.source if entry else "")
        if entry is not None and entry.per_fold is not None:
            row.fold_tolerance = (FOLD_TOLERANCE_FACTOR * tolerance if fold_tolerance is None
                                  else fold_tolerance)
            keys = sorted(entry.per_fold, key=key_sort)
            common = [k for k in keys if k in r.accuracy]
            row.missing_keys = [key_label(k) for k in keys if k not in r.accuracy]
            if common:
                row.fold_mad = sum(abs(100 * r.accuracy[k] - entry.per_fold[k])
                                   for k in common) / len(common)
            extra = len(set(r.accuracy) - set(entry.per_fold))
            if extra:
                row.notes.append(f"{extra} (fold, repeat) keys not in the reference, not compared")
            if entry.record is not None:
                row.notes.extend(_differences(rec, entry.record))
        rows.append(row)
    rows.sort(key=lambda x: (x.dataset, x.embedder, x.run))
    return CheckResult(rows)


CHECK_HEADERS = ["dataset", "embedder", "ours %", "reference %", "delta", "tol", "per-fold |d|",
                 "fold tol", "status", "run"]


def _has_folds(result: CheckResult) -> bool:
    return any(r.fold_tolerance is not None for r in result.rows)


def check_headers(result: CheckResult) -> list[str]:
    if _has_folds(result):
        return CHECK_HEADERS
    return [h for h in CHECK_HEADERS if h not in ("per-fold |d|", "fold tol")]


def check_rows(result: CheckResult, only_failed: bool = False) -> list[list[Any]]:
    """Rows under :func:`check_headers` (percent; the fold columns only for a results
    reference)."""
    folds = _has_folds(result)
    rows = []
    for r in result.rows:
        if only_failed and (r.ok or not r.comparable):
            continue
        fold = ""
        if r.fold_tolerance is not None:
            fold = "" if r.fold_mad is None else f"{r.fold_mad:.2f}"
            if r.missing_keys:
                fold += f" ({len(r.missing_keys)} missing)"
        row = [r.dataset, r.embedder, f"{r.ours:.2f}",
               "" if r.reference is None else f"{r.reference:.2f}",
               tables.signed(r.delta), f"{r.tolerance:g}", fold,
               "" if r.fold_tolerance is None else f"{r.fold_tolerance:g}", r.status, r.run]
        rows.append(row if folds else row[:6] + row[8:])
    return rows


def format_check(result: CheckResult, reference: Reference) -> str:
    """Every run's line, then what is out of tolerance and the notes."""
    headers = check_headers(result)
    align = "ll" + "r" * (len(headers) - 4) + "ll"
    out = [f"reference: {reference.name}", tables.text(headers, check_rows(result), align=align)]
    for r in result.rows:
        if r.missing_keys:
            out.append(f"{r.embedder} on {r.dataset}: missing " + ", ".join(r.missing_keys[:6])
                       + (" ..." if len(r.missing_keys) > 6 else ""))
        for n in r.notes:
            out.append(f"note: {r.embedder} on {r.dataset}: {n}")
    code = result.exit_code
    if code == 2:
        out.append("nothing comparable: no run has a reference value for its (dataset, embedder)")
    elif code == 1:
        out.append("")
        out.append(f"OUT OF TOLERANCE ({len(result.failed)} of {len(result.comparable)}):")
        out.append(tables.text(headers, check_rows(result, only_failed=True), align=align))
    else:
        out.append(f"all {len(result.comparable)} comparable run(s) within tolerance")
    return "\n".join(out)
