"""Multilabel metrics (bench.evaluation.metrics) against scikit-learn on random scores with
ties, and against a tiny case computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.evaluation.metrics import (average_precision, d_prime, multilabel_scores,
                                      multilabel_targets, roc_auc)


@pytest.mark.parametrize("seed", range(6))
def test_per_class_ap_and_auc_equal_scikit_learn(seed):
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(seed)
    n, c = 40 + 7 * seed, 5
    y = (rng.random((n, c)) < rng.uniform(0.1, 0.6, c)).astype(int)
    y[0], y[1] = 1, 0  # every class has a positive and a negative clip
    s = rng.random((n, c))
    if seed % 2:
        s = np.round(s, 1)  # many ties
    scores = multilabel_scores(y, s, [f"k{i}" for i in range(c)])
    np.testing.assert_allclose(scores.average_precision,
                               average_precision_score(y, s, average=None), rtol=1e-12)
    np.testing.assert_allclose(scores.auc, roc_auc_score(y, s, average=None), rtol=1e-12)
    assert scores.mAP == pytest.approx(average_precision_score(y, s, average="macro"))
    assert scores.aucroc == pytest.approx(roc_auc_score(y, s, average="macro"))
    assert scores.undefined == ()


def test_hand_computed_case_with_a_tie_and_an_absent_class():
    # class a: sorted scores .9(+) .8(-) .4(+) .1(-): precision at the positives 1/1 and 2/3,
    #   AP = .5*1 + .5*2/3 = 5/6; pairs (+,-): .9>.8, .9>.1, .4<.8, .4>.1 -> AUC 3/4
    # class b: .5(-) .5(+) tie, .2(+) .2(-) tie: thresholds .5 (P=1/2, R=1/2) and .2 (P=1/2,
    #   R=1): AP = 1/2; pairs: tie .5, .5>.2, .2<.5, tie .5 -> AUC 2/4
    # class c: no positive clip -> NaN, left out of the macro means and named
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    s = np.array([[.9, .5, .3], [.8, .5, .2], [.4, .2, .9], [.1, .2, .1]])
    scores = multilabel_scores(y, s, ["a", "b", "c"])
    assert scores.average_precision[:2] == pytest.approx((5 / 6, 0.5))
    assert scores.auc[:2] == pytest.approx((0.75, 0.5))
    assert math.isnan(scores.average_precision[2]) and math.isnan(scores.auc[2])
    assert scores.undefined == ("c: no positive clip",)
    # Phi^-1(3/4) = 0.6744897502, times sqrt(2) = 0.9538725524; Phi^-1(1/2) = 0
    assert scores.d_prime[:2] == pytest.approx((0.9538725524, 0.0))
    assert scores.as_dict() == pytest.approx({"mAP": (5 / 6 + 0.5) / 2, "aucroc": 0.625,
                                              "d_prime": 0.9538725524 / 2})


def test_edges():
    assert math.isnan(average_precision([0, 0], [0.3, 0.4]))
    assert math.isnan(roc_auc([1, 1], [0.3, 0.4]))
    assert average_precision([1, 1], [0.3, 0.3]) == 1.0
    # a perfect AUC is half a pair from 1: 1 - 1/(2*2*2) = 7/8 -> sqrt(2) * 1.1503493804
    assert roc_auc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert d_prime(1.0, 2, 2) == pytest.approx(math.sqrt(2) * 1.1503493804)
    assert d_prime(0.0, 2, 2) == pytest.approx(-math.sqrt(2) * 1.1503493804)
    scores = multilabel_scores(np.ones((3, 1)), np.zeros((3, 1)), ["all"])
    assert scores.undefined == ("all: no negative clip",) and math.isnan(scores.aucroc)
    assert scores.mAP == 1.0
    with pytest.raises(ValueError, match="must both be"):
        multilabel_scores(np.ones((3, 2)), np.zeros((3, 1)), ["a", "b"])


def test_targets_from_label_lists():
    y = multilabel_targets([("b",), (), ("c", "a")], ("a", "b", "c"))
    assert y.tolist() == [[0, 1, 0], [0, 0, 0], [1, 0, 1]]
    with pytest.raises(ValueError, match="'z' is not among"):
        multilabel_targets([("z",)], ("a",))
