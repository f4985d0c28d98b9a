"""The paired tests and effect sizes themselves, on plain lists of accuracies."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from bench.errors import ProtocolError

# Accuracies are ratios of clip counts; their differences are rounded to this many decimals so
# that equal differences tie (0.85 - 0.80 and 0.80 - 0.75 differ in the 17th digit otherwise).
DIFF_DECIMALS = 12
FEW_PAIRS_NOTE = ("fewer than 6 non-zero differences: the exact two-sided test cannot reach "
                  "p < 0.05")


# --------------------------------------------------------------------------- the numbers

def wilcoxon(a: Sequence[float], b: Sequence[float], method: str = "auto") -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of ``a - b`` as ``scipy.stats.wilcoxon`` computes it
    (``zero_method='wilcox'``: zero differences dropped; no continuity correction).

    Returns
    -------
    statistic, pvalue : float
        ``statistic`` is scipy's: the smaller of the positive- and negative-rank sums.
        When every difference is zero there is nothing to test: ``(0.0, 1.0)``.
    """
    from scipy.stats import wilcoxon as _wilcoxon

    d = differences(a, b)
    if d.size == 0:
        raise ProtocolError("no paired values to test")
    if not np.any(d):
        return 0.0, 1.0
    with warnings.catch_warnings():
        # scipy warns that n is small for the normal approximation; the table shows n
        warnings.simplefilter("ignore")
        try:
            res = _wilcoxon(d, zero_method="wilcox", correction=False, alternative="two-sided",
                            method=method)
        except ValueError:
            if method != "approx":
                raise
            # newer scipy names the normal approximation 'asymptotic'
            res = _wilcoxon(d, zero_method="wilcox", correction=False, alternative="two-sided",
                            method="asymptotic")
    return float(res.statistic), float(res.pvalue)


def differences(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ProtocolError(f"paired values must be two lists of one length, found {a.shape} "
                            f"and {b.shape}")
    return np.round(a - b, DIFF_DECIMALS)


def rank_biserial(a: Sequence[float], b: Sequence[float]) -> float:
    """Matched-pairs rank-biserial correlation of ``a - b`` (Kerby 2014): ``(R+ - R-) / (R+ + R-)``
    over the ranks of the non-zero ``|a - b|`` (average ranks for ties); 0 when all are zero.
    +1: ``a`` wins every pair; -1: ``b`` wins every pair."""
    from scipy.stats import rankdata

    d = differences(a, b)
    d = d[d != 0]
    if d.size == 0:
        return 0.0
    ranks = rankdata(np.abs(d))
    r_plus, r_minus = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((r_plus - r_minus) / (r_plus + r_minus))


def bootstrap_ci(values: Sequence[float], *, n_boot: int = 10000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``.

    ``n_boot`` resamples of ``len(values)`` indices drawn with replacement by
    ``numpy.random.default_rng(seed).integers(0, n, size=(n_boot, n))``; the interval is the
    ``(1-level)/2`` and ``(1+level)/2`` quantiles (numpy's default linear interpolation) of the
    resampled means. Each call seeds its own generator, so an interval depends only on its values
    and the seed.
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return float("nan"), float("nan")
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    means = x[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    With the m p-values sorted ascending, ``p_adj(i) = max_{k<=i} min(1, (m - k + 1) p(k))``.
    """
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.maximum.accumulate(adjusted)
    out = np.empty(m)
    out[order] = adjusted
    return [float(x) for x in out]
