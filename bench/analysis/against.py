"""``bench check RUNS --against OLD_RUNS``: today's runs against a previous results folder.

Runs are paired by what makes their numbers comparable: the protocol's fingerprint (every
resolved setting but the preset's name), the embedder's identity (its version, weights sha256,
options, rates and sizes), the dataset's content (version, audio sha256, clip count, folds) and
the seed, within one (dataset, embedder, ``train_samples`` tag). A new run whose closest old run
differs in any of these is "not comparable", with the differing fields named as ``bench explain``
names them; it is never compared silently. Each comparable pair is then checked on every metric
of :data:`bench.analysis.check_metrics.METRICS` the two records hold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from bench.datasets.names import dataset_key
from bench.analysis.check_metrics import METRICS, Metric, Tolerance, UnitValues, spread
from bench.analysis.explain import setting_differences
from bench.analysis.factors import key_label, key_sort
from bench.analysis.paired import wilcoxon
from bench.evaluation.settings import fingerprint
from bench.runs.record import RunRecord

#: the parts of a record's ``embedder`` that decide its numbers (a new weights URL does not)
EMBEDDER_FIELDS = ("version", "weights_sha256", "options", "sample_rate", "dim", "window_s",
                   "hop_s")
#: the parts of a record's ``dataset`` that decide which data and folds were evaluated
DATASET_FIELDS = ("version", "content_sha256", "n_clips", "splits")

# verdicts; the first group fails the check (exit 1), NOT_COMPARABLE exits 2
OK, REGRESSION, ROSE, MOVED, LOST_FOLDS = "ok", "regression", "rose", "moved", "missing folds"
NOT_COMPARABLE, NEW, GONE = "not comparable", "new run", "no new run"
FAILING = (REGRESSION, ROSE, MOVED, LOST_FOLDS)
SKIPPED = (NEW, GONE)


def _abbrev(v: Any) -> str:
    text = json.dumps(v, separators=(",", ":"), sort_keys=True) if isinstance(v, (list, dict)) \
        else str(v)
    return text if len(text) <= 24 else text[:12] + "..."


def _part(record: RunRecord, name: str) -> dict[str, Any]:
    part = getattr(record, name)
    return part if isinstance(part, dict) else {}


def identity_differences(old: RunRecord, new: RunRecord) -> list[str]:
    """``field: old -> new`` for every identifying field in which two runs differ: protocol
    settings (``max_epochs: 50 -> 4``), ``embedder.<field>``, ``dataset.<field>`` and ``seed``.
    An embedder or dataset field one record lacks (written by an older bench) is not compared."""
    out = []
    if fingerprint(old.protocol) != fingerprint(new.protocol):
        out += setting_differences(old.protocol, new.protocol) or [
            f"protocol fingerprint: {fingerprint(old.protocol)} -> {fingerprint(new.protocol)}"]
    for part, names in (("embedder", EMBEDDER_FIELDS), ("dataset", DATASET_FIELDS)):
        a, b = _part(old, part), _part(new, part)
        for k in names:
            if k in a and k in b and a[k] != b[k]:
                out.append(f"{part}.{k}: {_abbrev(a[k])} -> {_abbrev(b[k])}")
    if old.run_seed != new.run_seed:
        out.append(f"seed: {old.run_seed} -> {new.run_seed}")
    return out


def _group(record: RunRecord) -> tuple[str, str, str | None]:
    return (dataset_key(record.dataset_name), record.embedder_name,
            record.run_tags.get("train_samples"))


@dataclass
class Pair:
    """A new run and the old run it is read against (either may be ``None``)."""

    new: RunRecord | None
    old: RunRecord | None
    differs: list[str] = field(default_factory=list)

    @property
    def comparable(self) -> bool:
        return self.new is not None and self.old is not None and not self.differs

    @property
    def record(self) -> RunRecord:
        return self.new if self.new is not None else self.old  # type: ignore[return-value]

    #: set when two runs of one (dataset, embedder) share preset and seed (other overrides)
    fingerprinted: bool = False

    @property
    def label(self) -> str:
        r = self.record
        fp = f" {fingerprint(r.protocol)}" if self.fingerprinted else ""
        return f"{r.preset} s{r.run_seed}{fp}"


def pair_runs(new: Iterable[RunRecord], old: Iterable[RunRecord]) -> list[Pair]:
    """Pair every new run with an old run of identical identity; a new run without one gets the
    old run of its (dataset, embedder) that differs in the fewest fields (same preset first),
    reported with the differences; old runs left over are "no new run"."""
    new, old = list(new), list(old)
    used: set[int] = set()
    pairs: list[Pair] = []
    pending = []
    for n in new:
        exact = [i for i, o in enumerate(old) if i not in used and _group(o) == _group(n)
                 and not identity_differences(o, n)]
        if exact:
            # the latest of equal old runs (a folder may keep a rerun beside the first)
            i = max(exact, key=lambda j: old[j].created)
            used.add(i)
            pairs.append(Pair(n, old[i]))
        else:
            pending.append(n)
    for n in pending:
        cands = [i for i, o in enumerate(old) if _group(o) == _group(n)]
        if not cands:
            pairs.append(Pair(n, None))
            continue
        i = min(cands, key=lambda j: (j in used, old[j].preset != n.preset,
                                      len(identity_differences(old[j], n))))
        used.add(i)
        pairs.append(Pair(n, old[i], identity_differences(old[i], n)))
    pairs += [Pair(None, o) for i, o in enumerate(old) if i not in used]
    seen: dict[tuple, int] = {}
    for p in pairs:
        k = (p.record.dataset_name, p.record.embedder_name, p.label)
        seen[k] = seen.get(k, 0) + 1
    for p in pairs:  # test case names must be unique: add the protocol's fingerprint
        p.fingerprinted = seen[(p.record.dataset_name, p.record.embedder_name, p.label)] > 1
    pairs.sort(key=lambda p: (p.record.dataset_name, p.record.embedder_name, p.label))
    return pairs


@dataclass
class Case:
    """One (run pair, metric): a JUnit test case and a table row. Values in the metric's unit;
    for a ``per-unit`` metric ``delta`` is the mean ``|new - old|`` over the old run's keys."""

    dataset: str
    embedder: str
    run: str
    metric: str
    verdict: str
    old: float | None = None
    new: float | None = None
    delta: float | None = None
    tolerance: float | None = None
    tolerance_spec: str = ""
    p: float | None = None
    n: int = 0
    detail: str = ""
    rule: str = "mean"

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING


def _mean(values: UnitValues) -> float:
    return sum(values.values()) / len(values)


def _p(old: UnitValues, new: UnitValues, keys: list) -> float | None:
    """Paired Wilcoxon p over the shared (fold, repeat) keys; ``None`` below two pairs."""
    if len(keys) < 2:
        return None
    return wilcoxon([new[k] for k in keys], [old[k] for k in keys])[1]


def compare_metric(pair: Pair, metric: Metric, tolerance: Tolerance, one_sided: bool = False
                   ) -> Case | None:
    """The case of one metric for a comparable pair (``None`` when a record lacks it)."""
    assert pair.old is not None and pair.new is not None
    old, new = metric.values(pair.old), metric.values(pair.new)
    if old is None or new is None or not old or not new:
        return None
    r = pair.new
    tol = tolerance.resolve(spread(old))
    keys = sorted(set(old) & set(new), key=key_sort)
    case = Case(r.dataset_name, r.embedder_name, pair.label, metric.name, OK, _mean(old),
                _mean(new), tolerance=tol, tolerance_spec=str(tolerance), p=_p(old, new, keys),
                n=len(keys), rule=metric.rule)
    slack = 1e-9  # a value printed as exactly the tolerance does not fail on rounding
    if metric.rule == "per-unit":
        lost = [key_label(k) for k in sorted(old, key=key_sort) if k not in new]
        case.delta = (sum(abs(new[k] - old[k]) for k in keys) / len(keys)) if keys else None
        if lost:
            case.verdict = LOST_FOLDS
            case.detail = "missing in the new run: " + ", ".join(lost[:6]) + \
                (" ..." if len(lost) > 6 else "")
        elif case.delta is not None and case.delta > tol + slack:
            case.verdict = MOVED
            case.detail = (f"mean |new - old| over {len(keys)} (fold, repeat) = "
                           f"{case.delta:.2f} > {tol:.2f}")
        return case
    case.delta = case.new - case.old
    if case.delta < -(tol + slack):
        case.verdict = REGRESSION
    elif case.delta > tol + slack:
        case.verdict = OK if one_sided else ROSE
    if case.verdict != OK:
        sd = f" ({tolerance})" if tolerance.in_sd else ""
        case.detail = (f"old {case.old:.2f}, new {case.new:.2f}, delta {case.delta:+.2f} beyond "
                       f"tolerance {tol:.2f}{sd}")
    return case


@dataclass
class AgainstResult:
    """Every pair and every case of ``bench check --against``."""

    against: str
    pairs: list[Pair]
    cases: list[Case]

    @property
    def failed(self) -> list[Case]:
        return [c for c in self.cases if c.failed]

    @property
    def not_comparable(self) -> list[Pair]:
        return [p for p in self.pairs if p.new is not None and p.old is not None and p.differs]

    @property
    def exit_code(self) -> int:
        """1: a comparable run is out of tolerance; else 2: a run is not comparable, or no run
        was compared; else 0."""
        if self.failed:
            return 1
        if self.not_comparable or not any(p.comparable for p in self.pairs):
            return 2
        return 0


def check_against(new: Iterable[RunRecord], old: Iterable[RunRecord],
                  tolerances: dict[str, Tolerance], *, against: str = "",
                  one_sided: bool = False) -> AgainstResult:
    """Pair ``new`` with ``old`` (:func:`pair_runs`) and check every metric of each comparable
    pair.

    Parameters
    ----------
    new, old : iterable of RunRecord
    tolerances : dict
        Metric name -> :class:`~bench.analysis.check_metrics.Tolerance` (from
        :func:`~bench.analysis.check_metrics.parse_tolerances`).
    against : str
        What ``old`` is, for the output (the folder's path).
    one_sided : bool
        Only drops fail; a mean that rose beyond the tolerance passes.

    Returns
    -------
    AgainstResult
    """
    pairs = pair_runs(new, old)
    cases: list[Case] = []
    for pair in pairs:
        r = pair.record
        if pair.comparable:
            for m in METRICS.values():
                case = compare_metric(pair, m, tolerances[m.name], one_sided)
                if case is not None:
                    cases.append(case)
            continue
        verdict = NOT_COMPARABLE if pair.differs else NEW if pair.old is None else GONE
        detail = "; ".join(pair.differs) if pair.differs else (
            f"no old run of {r.embedder_name} on {r.dataset_name}" if pair.old is None
            else "the old run has no counterpart among the new runs")
        for m in METRICS.values():
            values = {"old": m.values(pair.old) if pair.old else None,
                      "new": m.values(pair.new) if pair.new else None}
            if values["old"] is None and values["new"] is None:
                continue
            # both means shown for information; no delta: they are not compared
            means = {k: _mean(v) if v else None for k, v in values.items()}
            cases.append(Case(r.dataset_name, r.embedder_name, pair.label, m.name, verdict,
                              old=means["old"], new=means["new"], detail=detail, rule=m.rule))
    return AgainstResult(against, pairs, cases)
