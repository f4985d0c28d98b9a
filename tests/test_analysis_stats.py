"""bench.analysis.stats: Wilcoxon numbers against scipy, effect sizes, bootstrap and Holm against
computations written here from their definitions, and the documented pairing/pooling rule."""

from __future__ import annotations

import csv
import io
import json
import random

import numpy as np
import pytest
import scipy.stats
from click.testing import CliRunner

from analysis_fixtures import make_record, write_run
from bench.analysis import stats, stats_format
from bench.cli import main
from bench.errors import ProtocolError

FOLDS = (1, 2, 3, 4, 5)


# --------------------------------------------------------------------------- Wilcoxon

@pytest.mark.parametrize("n", [6, 12, 60])
@pytest.mark.parametrize("method", ["auto", "exact", "approx"])
def test_wilcoxon_equals_scipy(n, method):
    rng = np.random.default_rng(n)
    a = rng.uniform(0.5, 0.9, n)
    b = a - rng.normal(0.01, 0.03, n)
    stat, p = stats.wilcoxon(a, b, method)
    ref = scipy.stats.wilcoxon(a, b, method=method)
    assert stat == pytest.approx(float(ref.statistic), abs=1e-12)
    assert p == pytest.approx(float(ref.pvalue), rel=1e-12)


def test_wilcoxon_ties_between_equal_accuracy_differences():
    # accuracies out of 40 clips: differences of +-2/40 computed in floating point come out as
    # slightly different numbers; they must tie as the counts do
    ca = np.array([34, 32, 30, 36, 28, 33, 31, 29])
    cb = np.array([32, 34, 28, 34, 30, 32, 30, 31])
    a, b = ca / 40, cb / 40
    stat, p = stats.wilcoxon(a, b, "approx")
    exact_counts = scipy.stats.wilcoxon(ca - cb, method="approx")  # integers: exact ties
    assert stat == pytest.approx(float(exact_counts.statistic))
    assert p == pytest.approx(float(exact_counts.pvalue), rel=1e-12)
    # the rounding matters on this data: raw floating differences rank differently
    raw = scipy.stats.wilcoxon(a, b, method="approx")
    assert (float(raw.statistic), float(raw.pvalue)) != (stat, p)


def test_wilcoxon_all_equal_is_p_one():
    a = [0.7, 0.8, 0.75]
    assert stats.wilcoxon(a, a) == (0.0, 1.0)


def test_wilcoxon_refuses_unpaired_lengths():
    with pytest.raises(ProtocolError):
        stats.wilcoxon([0.1, 0.2], [0.1])


# --------------------------------------------------------------------------- effect sizes

def _average_ranks(x):
    """Ranks 1..n of x, ties sharing the mean of their positions (written out by hand)."""
    order = sorted(range(len(x)), key=lambda i: x[i])
    ranks = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _rank_biserial_by_definition(a, b):
    d = [round(x - y, 12) for x, y in zip(a, b)]
    d = [x for x in d if x != 0]
    if not d:
        return 0.0
    r = _average_ranks([abs(x) for x in d])
    plus = sum(rk for rk, x in zip(r, d) if x > 0)
    minus = sum(rk for rk, x in zip(r, d) if x < 0)
    return (plus - minus) / (plus + minus)


def test_rank_biserial_against_definition():
    rng = np.random.default_rng(3)
    for n in (5, 9, 20):
        a = np.round(rng.uniform(0.5, 0.9, n) * 40) / 40     # ties and zeros occur
        b = np.round((a - rng.normal(0.0, 0.05, n)) * 40) / 40
        assert stats.rank_biserial(a, b) == pytest.approx(_rank_biserial_by_definition(a, b))
    assert stats.rank_biserial([0.9, 0.8, 0.7], [0.5, 0.5, 0.5]) == 1.0
    assert stats.rank_biserial([0.5, 0.5], [0.9, 0.8]) == -1.0
    assert stats.rank_biserial([0.6, 0.4], [0.5, 0.5]) == 0.0
    assert stats.rank_biserial([0.5], [0.5]) == 0.0


def test_rank_biserial_relation_to_wilcoxon_statistic():
    # without zeros and ties: r = (S - 2 W) / S * sign, S = n(n+1)/2, W = min(R+, R-)
    rng = np.random.default_rng(5)
    a, b = rng.uniform(size=15), rng.uniform(size=15)
    w, _ = stats.wilcoxon(a, b)
    s = 15 * 16 / 2
    assert abs(stats.rank_biserial(a, b)) == pytest.approx((s - 2 * w) / s)


def test_compare_median_and_mean_difference():
    a = [0.8, 0.7, 0.9, 0.6]
    b = [0.7, 0.7, 0.6, 0.65]
    c = stats.paired_numbers(a, b)
    assert c["median_diff"] == pytest.approx(np.median([0.1, 0.0, 0.3, -0.05]))
    assert c["mean_diff"] == pytest.approx(np.mean(a) - np.mean(b))
    assert c["n"] == 4 and c["n_nonzero"] == 3


# --------------------------------------------------------------------------- bootstrap, Holm

def test_bootstrap_ci_against_definition():
    x = np.array([0.71, 0.74, 0.69, 0.8, 0.77, 0.73, 0.75])
    lo, hi = stats.bootstrap_ci(x, n_boot=2000, level=0.9, seed=11)
    rng = np.random.default_rng(11)
    means = []
    for _ in range(2000):  # one resample per row, as integers(0, n, size=(B, n)) draws them
        idx = rng.integers(0, len(x), size=len(x))
        means.append(x[idx].mean())
    # integers(size=(B, n)) draws the same stream as B calls of size n
    ref_lo, ref_hi = np.quantile(means, [0.05, 0.95])
    assert (lo, hi) == pytest.approx((ref_lo, ref_hi), abs=1e-15)
    assert lo < x.mean() < hi


def test_bootstrap_ci_close_to_normal_theory_for_large_samples():
    rng = np.random.default_rng(0)
    x = rng.normal(0.7, 0.05, 400)
    lo, hi = stats.bootstrap_ci(x, n_boot=4000, seed=1)
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.1)
    assert (lo + hi) / 2 == pytest.approx(x.mean(), abs=half * 0.1)


def test_bootstrap_ci_is_seeded_and_degenerate_cases():
    x = [0.5, 0.6, 0.7, 0.65, 0.55, 0.62, 0.58, 0.71]
    assert stats.bootstrap_ci(x, seed=4) == stats.bootstrap_ci(x, seed=4)
    assert stats.bootstrap_ci(x, seed=4) != stats.bootstrap_ci(x, seed=5)
    assert stats.bootstrap_ci([0.4]) == (0.4, 0.4)


def _holm_by_definition(p):
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adj = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):          # rank 0 multiplies by m, the last by 1
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def test_holm_against_definition_and_known_values():
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    rng = random.Random(2)
    for m in (1, 2, 5, 11):
        p = [rng.random() ** 3 for _ in range(m)]
        assert stats.holm(p) == pytest.approx(_holm_by_definition(p))
    assert stats.holm([]) == []
    assert stats.holm([0.6, 0.6]) == [1.0, 1.0]


# --------------------------------------------------------------------------- pairing rule

def _acc(base, scale=0.01):
    """Distinct, reproducible accuracies per (fold, repeat)."""
    return lambda f, r: base + scale * ((f * 7 + r * 3) % 5) + 0.001 * f


def _family(result, factor, dataset="esc50"):
    return [c for c in result.comparisons if c.factor == factor and c.dataset == dataset]


def test_representation_pooled_by_documented_rule():
    # two levels x two subsets, given in a shuffled order; env and music differ a lot, so
    # pairing env with music would give a different test
    spec = {"l3-m256-music": (0.80, 0.03), "l3-m256-env": (0.70, 0.02),
            "l3-linear-music": (0.78, 0.01), "l3-linear-env": (0.71, 0.04)}
    recs = {n: make_record(n, accuracies=_acc(*v), repeats=2) for n, v in spec.items()}
    order = ["l3-linear-env", "l3-m256-music", "l3-linear-music", "l3-m256-env"]
    res = stats.analyse([recs[n] for n in order], stats.StatsConfig(factors=("representation",)))
    (c,) = _family(res, "representation")
    assert (c.a, c.b) == ("Mel-256", "Linear")

    def vec(names):  # per (fold, repeat) in natural order: env then music
        out = []
        for f in FOLDS:
            for r in range(2):
                out += [_acc(*spec[n])(f, r) for n in names]
        return out

    a = vec(["l3-m256-env", "l3-m256-music"])
    b = vec(["l3-linear-env", "l3-linear-music"])
    ref = scipy.stats.wilcoxon(np.round(np.subtract(a, b), 12))
    assert c.n == 20
    assert c.statistic == pytest.approx(float(ref.statistic))
    assert c.p == pytest.approx(float(ref.pvalue))
    assert c.mean_a == pytest.approx(np.mean(a)) and c.mean_b == pytest.approx(np.mean(b))
    # the rule matters: crossing the subsets gives another statistic
    crossed = scipy.stats.wilcoxon(np.round(np.subtract(
        a, vec(["l3-linear-music", "l3-linear-env"])), 12))
    assert float(crossed.statistic) != pytest.approx(c.statistic)
    assert not c.notes or all("unmatched" not in n for n in c.notes)


def test_unmatched_designs_are_paired_by_position_with_a_note():
    spec = {"l3-m256-music": (0.80, 0.03), "l3-m256-env": (0.70, 0.02),
            "l3-linear-music": (0.74, 0.01), "l3-linear-music-512": (0.72, 0.04)}
    recs = [make_record(n, accuracies=_acc(*v)) for n, v in spec.items()]
    res = stats.analyse(recs, stats.StatsConfig(factors=("representation",)))
    (c,) = _family(res, "representation")
    # order by (subset, dim): env-6144, music-6144 vs music-6144, music-512
    a = [_acc(*spec[n])(f, 0) for f in FOLDS for n in ("l3-m256-env", "l3-m256-music")]
    b = [_acc(*spec[n])(f, 0) for f in FOLDS for n in ("l3-linear-music", "l3-linear-music-512")]
    ref = scipy.stats.wilcoxon(np.round(np.subtract(a, b), 12))
    assert c.statistic == pytest.approx(float(ref.statistic))
    assert c.p == pytest.approx(float(ref.pvalue))
    assert any("unmatched designs paired by position" in n for n in c.notes)


def test_subset_pools_representation_and_size():
    names = ["l3-linear-music", "l3-linear-env", "l3-m128-music", "l3-m128-env",
             "l3-m256-music-512", "l3-m256-env-512"]
    base = {n: 0.6 + 0.03 * i for i, n in enumerate(names)}
    recs = [make_record(n, accuracies=_acc(base[n])) for n in names]
    res = stats.analyse(recs, stats.StatsConfig(factors=("subset",)))
    (c,) = _family(res, "subset")
    assert (c.a, c.b) == ("Music", "Env.") and c.n == 15
    music = [n for n in names if "-music" in n]
    env = [n for n in names if "-env" in n]
    a = [_acc(base[n])(f, 0) for f in FOLDS for n in music]   # linear, m128, m256-512 order
    b = [_acc(base[n])(f, 0) for f in FOLDS for n in env]
    ref = scipy.stats.wilcoxon(np.round(np.subtract(a, b), 12))
    assert c.statistic == pytest.approx(float(ref.statistic))
    assert c.p == pytest.approx(float(ref.pvalue))
    levels = {x.level: x for x in res.levels if x.factor == "subset"}
    assert levels["Music"].n == 15 and sorted(levels["Music"].runs) == sorted(music)


def test_holm_within_a_factor_family():
    recs = [make_record(f"l3-{r}-music", accuracies=_acc(0.6 + 0.05 * i, 0.02))
            for i, r in enumerate(["linear", "m128", "m256"])]
    recs += [make_record(f"l3-{r}-env", accuracies=_acc(0.62 + 0.05 * i, 0.015))
             for i, r in enumerate(["linear", "m128", "m256"])]
    res = stats.analyse(recs, stats.StatsConfig(factors=("representation", "subset")))
    rep = _family(res, "representation")
    assert [(c.a, c.b) for c in rep] == [("Mel-128", "Linear"), ("Mel-256", "Linear"),
                                         ("Mel-256", "Mel-128")]
    assert [c.p_holm for c in rep] == pytest.approx(_holm_by_definition([c.p for c in rep]))
    assert all(c.family_size == 3 for c in rep)
    (sub,) = _family(res, "subset")
    assert sub.p_holm == sub.p and sub.family_size == 1


def test_embedding_type_keeps_paper_l3_variant_and_other_embedders():
    recs = [make_record("l3-m256-music", accuracies=_acc(0.8)),
            make_record("l3-linear-env", accuracies=_acc(0.7)),
            make_record("soundnet", accuracies=_acc(0.5)),
            make_record("mfcc", accuracies=_acc(0.4, 0.02))]
    res = stats.analyse(recs, stats.StatsConfig(factors=("embedding",)))
    pairs = [(c.a, c.b) for c in _family(res, "embedding")]
    assert pairs == [("l3-m256-music", "soundnet"), ("l3-m256-music", "mfcc"),
                     ("soundnet", "mfcc")]
    assert any("l3-linear-env" in n for n in res.notes)
    res_all = stats.analyse(recs, stats.StatsConfig(factors=("embedding",), l3_variant=None))
    assert len(_family(res_all, "embedding")) == 6


def test_mfcc_vs_soundnet_is_plain_paired_test():
    a = [0.61, 0.55, 0.58, 0.66, 0.52, 0.6, 0.57]
    b = [0.45, 0.49, 0.41, 0.5, 0.47, 0.44, 0.52]
    folds = tuple(range(1, 8))
    recs = [make_record("soundnet", "synth", a, folds=folds),
            make_record("mfcc", "synth", b, folds=folds)]
    (c,) = stats.analyse(recs).comparisons
    ref = scipy.stats.wilcoxon(a, b)
    assert (c.a, c.b, c.dataset, c.factor) == ("soundnet", "mfcc", "synth", "embedding")
    assert c.statistic == pytest.approx(float(ref.statistic))
    assert c.p == pytest.approx(float(ref.pvalue))
    assert c.significant and c.significant_holm
    assert c.notes == []  # 7 non-zero differences: p < 0.05 is reachable


def test_few_pairs_note_once_per_family():
    recs = [make_record("soundnet", "synth", _acc(0.6)), make_record("mfcc", "synth", _acc(0.5)),
            make_record("vggish", "synth", _acc(0.55, 0.02))]
    res = stats.analyse(recs)
    assert all(c.notes == [stats.FEW_PAIRS_NOTE] for c in res.comparisons)
    assert stats_format.grouped_notes(res.comparisons) == [("all", stats.FEW_PAIRS_NOTE)]
    assert stats_format.format_text(res).count(stats.FEW_PAIRS_NOTE) == 1


def test_unequal_level_sizes_and_missing_keys_are_skipped_with_reasons():
    recs = [make_record("l3-m256-music", accuracies=_acc(0.8)),
            make_record("l3-m256-env", accuracies=_acc(0.75)),
            make_record("l3-linear-music", accuracies=_acc(0.7))]
    res = stats.analyse(recs, stats.StatsConfig(factors=("representation",)))
    assert not res.comparisons
    assert "different numbers of runs" in res.skipped[0]
    recs = [make_record("l3-m256-music", accuracies=_acc(0.8), repeats=2),
            make_record("l3-linear-music", accuracies=_acc(0.7), repeats=1)]
    res = stats.analyse(recs, stats.StatsConfig(factors=("representation",)))
    assert not res.comparisons and "do not pair" in res.skipped[0]
    assert "fold 1 repeat 1" in res.skipped[0]


def test_runs_mode_pairs_by_key_and_refuses_mismatch():
    r1 = make_record("mfcc", "synth", _acc(0.5), seed=1, run_id="a")
    r2 = make_record("mfcc", "synth", _acc(0.52, 0.02), seed=2, run_id="b")
    res = stats.analyse([r1, r2], stats.StatsConfig(compare="runs"))
    (c,) = res.comparisons
    assert (c.a, c.b) == ("mfcc [seed 1]", "mfcc [seed 2]")
    va = [_acc(0.5)(f, 0) for f in FOLDS]
    vb = [_acc(0.52, 0.02)(f, 0) for f in FOLDS]
    assert c.statistic == pytest.approx(float(scipy.stats.wilcoxon(va, vb).statistic))
    # folds given in another order in the file still pair by key
    r3 = make_record("mfcc", "synth", lambda f, r: _acc(0.52, 0.02)(f, r), seed=2, run_id="b",
                     folds=(5, 3, 1, 2, 4))
    (c3,) = stats.analyse([r1, r3], stats.StatsConfig(compare="runs")).comparisons
    assert c3.statistic == c.statistic and c3.p == c.p
    with pytest.raises(ProtocolError, match="do not pair"):
        stats.analyse([r1, make_record("mfcc", "synth", folds=(1, 2, 3), seed=3)],
                      stats.StatsConfig(compare="runs"))
    with pytest.raises(ProtocolError, match="same dataset"):
        stats.analyse([r1, make_record("mfcc", "esc50")], stats.StatsConfig(compare="runs"))


def test_duplicate_runs_prefer_untagged_then_newest():
    old = make_record("vggish", accuracies=_acc(0.6), run_id="old", created="2024-01-01")
    new = make_record("vggish", accuracies=_acc(0.7), run_id="new", created="2024-02-01")
    ck = make_record("vggish", accuracies=_acc(0.9), run_id="ck", created="2024-03-01",
                     tags={"train_samples": "13e6"})
    other = make_record("soundnet", accuracies=_acc(0.5))
    res = stats.analyse([old, ck, new, other])
    (c,) = res.comparisons
    assert c.mean_a == pytest.approx(np.mean([_acc(0.7)(f, 0) for f in FOLDS]))
    assert any("used new" in n and "ck" in n and "old" in n for n in res.notes)


def test_output_formats_round_trip():
    recs = [make_record("soundnet", accuracies=_acc(0.6, 0.02), repeats=2),
            make_record("mfcc", accuracies=_acc(0.5, 0.03), repeats=2)]
    res = stats.analyse(recs, stats.StatsConfig(n_boot=500))
    rows = list(csv.DictReader(io.StringIO(stats_format.format_result(res, "csv"))))
    assert len(rows) == 1
    c = res.comparisons[0]
    assert float(rows[0]["p"]) == c.p and float(rows[0]["statistic"]) == c.statistic
    assert float(rows[0]["ci_a_low"]) == res.levels[0].ci_low
    doc = json.loads(stats_format.format_result(res, "json"))
    assert doc["settings"]["n_boot"] == 500 and doc["settings"]["seed"] == 0
    assert doc["comparisons"][0]["p_holm"] == c.p_holm
    text = stats_format.format_result(res, "table")
    assert "soundnet vs mfcc" in text and "embedding type" in text


def test_cli_stats(tmp_path):
    a = [0.61, 0.55, 0.58, 0.66, 0.52, 0.6]
    b = [0.45, 0.49, 0.41, 0.5, 0.47, 0.44]
    folds = tuple(range(1, 7))
    write_run(tmp_path, make_record("soundnet", "synth", a, folds=folds))
    write_run(tmp_path, make_record("mfcc", "synth", b, folds=folds))
    runner = CliRunner()
    out = runner.invoke(main, ["stats", str(tmp_path), "--format", "json", "--method", "exact"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["comparisons"][0]["p"] == pytest.approx(
        float(scipy.stats.wilcoxon(a, b, method="exact").pvalue))
    out = runner.invoke(main, ["stats", str(tmp_path / "mfcc-synth-s0")])
    assert out.exit_code == 2 and "no comparison" in out.output
    out = runner.invoke(main, ["stats", str(tmp_path), "--compare", "runs", "-o",
                               str(tmp_path / "s.csv"), "--format", "csv"])
    assert out.exit_code == 0, out.output
    assert "soundnet" in (tmp_path / "s.csv").read_text()
