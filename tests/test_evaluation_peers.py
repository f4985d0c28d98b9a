"""The settings behind the peers' presets (hear, linear, fewshot:K), each against an independent
computation: pooling, few-shot subsets, next-fold validation, the PyTorch head's first Adam step,
early stopping counted in validation checks, the initialisations, logistic regression against
scikit-learn; and the settings' identity (paper's run key and fingerprint unchanged)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench.datasets.base import Clip, Split
from bench.errors import ConfigError, ProtocolError
from bench.evaluation.frames import Frames, Standardizer
from bench.evaluation.head import HeadSettings, HeadSpec, TorchHead, init_params
from bench.evaluation.logreg import LogisticRegression, LogRegSettings
from bench.evaluation.protocol import FoldData, validation_split
from bench.evaluation.sampling import few_shot, next_fold, pool_clips
from bench.evaluation.settings import (PROTOCOL_PRESETS, ProtocolConfig, fingerprint,
                                       protocol_preset)

GOLDEN = Path(__file__).resolve().parents[1] / "results" / "golden" / "synth-mini-mfcc-paper-s0"


# -- identity --------------------------------------------------------------------------------------

def test_paper_keeps_its_run_key_input_and_fingerprints_ignore_the_name():
    golden = json.loads((GOLDEN / "results.json").read_text())
    paper = protocol_preset("paper").replace(repeats=golden["protocol"]["repeats"])
    # the run key hashes identity_dict: for paper it is exactly what runs recorded before the
    # peers' settings existed, so paper and l3embedding runs keep their ids
    assert paper.identity_dict() == golden["protocol"]
    assert fingerprint(golden["protocol"]) == fingerprint(paper)
    assert fingerprint(paper.replace(preset="renamed")) == fingerprint(paper)
    assert fingerprint(paper.replace(patience=19)) != fingerprint(paper)
    prints = {fingerprint(protocol_preset(n)) for n in [*PROTOCOL_PRESETS, "fewshot:8",
                                                        "fewshot:4"]}
    assert len(prints) == len(PROTOCOL_PRESETS) + 2
    # every setting is recorded, the default-valued extended ones too
    assert set(protocol_preset("hear").to_dict()) == {f for f in ProtocolConfig.__dataclass_fields__}


def test_presets_parse_and_refuse_what_they_cannot_do():
    assert protocol_preset("fewshot:3").train_per_class == 3
    assert protocol_preset("fewshot").preset == "fewshot:8"
    for bad in ("fewshot:0", "fewshot:x", "hearx"):
        with pytest.raises(ConfigError):
            protocol_preset(bad)
    with pytest.raises(ConfigError, match="torch-mlp"):
        ProtocolConfig(batch_norm=True)  # the stacked paper trainer has no batch norm


# -- data side ------------------------------------------------------------------------------------

def test_pooling_matches_a_per_clip_computation():
    rng = np.random.default_rng(0)
    counts = np.array([1, 4, 2, 7])
    offsets = np.concatenate([[0], np.cumsum(counts)])
    X = rng.normal(size=(offsets[-1], 5)).astype(np.float32)
    clips = [X[a:b].astype(np.float64) for a, b in zip(offsets[:-1], offsets[1:])]
    expected = {"mean": [c.mean(0) for c in clips], "max": [c.max(0) for c in clips],
                "mean+max": [c.mean(0) + c.max(0) for c in clips]}
    for mode, want in expected.items():
        got = pool_clips(X, offsets, mode, chunk=3)  # chunks cut through the clips' list
        np.testing.assert_allclose(got, np.array(want), rtol=1e-6)


def _clips(n_classes=3, per_fold=2, folds=(1, 2, 3, 4, 5)):
    out = []
    for f in folds:
        for c in range(n_classes):
            out += [Clip(f"{f}-{c}-{k}", Path("x.wav"), f"c{c}", f) for k in range(per_fold)]
    return out


def test_few_shot_keeps_k_per_class_from_the_training_clips():
    labels = np.repeat(np.arange(4), 10)
    train = np.arange(40)[::2]  # 5 per class
    kept, warnings = few_shot(train, labels, 3, np.random.default_rng(1))
    assert set(kept) <= set(train) and np.bincount(labels[kept]).tolist() == [3, 3, 3, 3]
    again, _ = few_shot(train, labels, 3, np.random.default_rng(1))
    assert kept.tolist() == again.tolist() and not warnings
    kept, warnings = few_shot(train, labels, 7, np.random.default_rng(1))
    assert len(kept) == 20 and "fewer than 7" in warnings[0]


def test_next_fold_validation_is_the_following_fold():
    assert next_fold([3, 1, 2, 5, 4], 2) == 3 and next_fold([1, 2, 3, 4, 5], 5) == 1
    with pytest.raises(ProtocolError, match="at least 3 folds"):
        next_fold(["train", "test"], "test")
    clips = _clips()
    data = FoldData(np.arange(len(clips), dtype=np.float32)[:, None],
                    np.arange(len(clips) + 1), clips, ("c0", "c1", "c2"))
    protocol = protocol_preset("hear")
    split = Split(test_fold=5, train_folds=(1, 2, 3, 4))
    train_idx = np.array([i for i, c in enumerate(clips) if c.fold != 5])
    train, val, n_train, n_val, _ = validation_split(data, train_idx, protocol,
                                                     np.random.default_rng(0), split.test_fold)
    assert {clips[int(r)].fold for r in val.rows} == {1}  # after 5 comes 1
    assert {clips[int(r)].fold for r in train.rows} == {2, 3, 4}
    assert (n_train, n_val) == (18, 6)


# -- classifiers ----------------------------------------------------------------------------------

def _frames(X, y):
    return Frames(X, np.arange(len(X)), y, np.arange(len(X)))


def test_torch_head_first_adam_step_matches_numpy():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 4)).astype(np.float32)
    y = np.arange(12) % 3
    settings = HeadSettings(n_classes=3, batch_size=64, max_epochs=1, patience=1,
                            shuffle=False, random_state=11)
    spec = HeadSpec(lr=0.01, weight_decay=0.0, hidden_sizes=(), init="torch_default")
    ident = Standardizer(np.zeros(4, np.float32), np.ones(4, np.float32))
    head = TorchHead(settings, [spec]).fit(_frames(X, y), _frames(X, y), ident)
    # the head's initial weights come from the first of its seeds
    seed = int(np.random.SeedSequence(11).generate_state(2)[0])
    (W0, b0), = init_params([4, 3], "torch_default", np.random.default_rng(seed))
    z = X.astype(np.float64) @ W0 + b0
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d = (p - np.eye(3)[y]) / len(y)
    gW, gb = X.T @ d, d.sum(0)
    # Adam's first step: m_hat = g, v_hat = g^2, so each weight moves by lr * g / (|g| + eps)
    W1 = W0 - 0.01 * gW / (np.abs(gW) + 1e-8)
    b1 = b0 - 0.01 * gb / (np.abs(gb) + 1e-8)
    lin = head.model_[0]
    np.testing.assert_allclose(lin.weight.detach().numpy().T, W1, atol=1e-6)
    np.testing.assert_allclose(lin.bias.detach().numpy(), b1, atol=1e-6)


@pytest.mark.parametrize("ties, epochs, best", [("keep", 9, 3), ("update", 100, 99)])
def test_early_stopping_counts_validation_checks_and_ties(ties, epochs, best):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20, 3)).astype(np.float32)
    y = np.arange(20) % 2
    ident = Standardizer(np.zeros(3, np.float32), np.ones(3, np.float32))
    # learning rate 0: every check sees the same accuracy, so only the tie rule decides
    settings = HeadSettings(n_classes=2, max_epochs=100, patience=2, val_every=3,
                            monitor="val_accuracy", monitor_ties=ties)
    head = TorchHead(settings, [HeadSpec(0.0, 0.0, (5,), "xavier_uniform")]).fit(
        _frames(X, y), _frames(X, y), ident)
    point = head.points_[0]
    assert (point.epochs, point.best_epoch) == (epochs, best)


def test_initialisations_have_their_documented_scales():
    rng = np.random.default_rng(5)
    sizes = [300, 500, 400]
    for init, first_std in (("xavier_normal", math.sqrt(2 / 800)),
                            ("xavier_uniform", math.sqrt(6 / 800) / math.sqrt(3))):
        (W1, b1), (W2, _) = init_params(sizes, init, rng)
        assert W1.std() == pytest.approx(first_std, rel=0.02)
        # after a ReLU HEAR's gain is sqrt(2)
        assert W2.std() == pytest.approx(math.sqrt(2) * first_std * math.sqrt(800 / 900),
                                         rel=0.02)
        assert np.abs(b1).max() <= 1 / math.sqrt(300) and b1.std() > 0
    (W, b), = init_params([300, 10], "glorot_uniform", rng)
    assert not b.any() and np.abs(W).max() <= math.sqrt(6 / 310)


def test_logistic_regression_matches_scikit_learn():
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(6)
    centres = rng.normal(scale=2.0, size=(3, 5))
    y = np.repeat(np.arange(3), 20)
    X = (centres[y] + rng.normal(size=(60, 5))).astype(np.float32)
    ident = Standardizer(np.zeros(5, np.float32), np.ones(5, np.float32))
    ours = LogisticRegression(LogRegSettings(n_classes=3, C=0.5)).fit(_frames(X, y), None, ident)
    ref = sklearn.LogisticRegression(C=0.5, max_iter=100).fit(X.astype(np.float64), y)
    np.testing.assert_allclose(ours.coef_.T, ref.coef_, atol=2e-3)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=2e-3)
    np.testing.assert_allclose(ours.predict_proba(_frames(X, y), ident),
                               ref.predict_proba(X.astype(np.float64)), atol=1e-3)
