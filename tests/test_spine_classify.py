"""The grid MLP: equal to a plain sequential PyTorch implementation, early stopping restores
the best epoch, the grid picks the best validation point, likelihoods are summed per clip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.evaluation.selection import GridPoint, select_winner
from bench.evaluation.stacked import Frames, GridMLP, MLPSettings, Standardizer, clip_scores
from classify_reference import fit_sequential

GRID = [(lr, wd) for lr in (1e-5, 1e-4, 1e-3) for wd in (1e-5, 1e-4, 1e-3)]


def _problem(separation: float, seed: int = 0, n_clips: int = 120, frames_per_clip: int = 6,
             dim: int = 24, n_classes: int = 5):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_clips)
    centers = rng.normal(size=(n_classes, dim))
    X = (separation * centers[np.repeat(labels, frames_per_clip)]
         + rng.normal(size=(n_clips * frames_per_clip, dim)) * rng.uniform(0.5, 3, dim)
         + rng.uniform(-5, 5, dim)).astype(np.float32)
    rows = np.arange(n_clips * frames_per_clip)
    y = np.repeat(labels, frames_per_clip)
    clip = np.repeat(np.arange(n_clips), frames_per_clip)
    n_tr = int(0.7 * n_clips) * frames_per_clip
    n_va = int(0.85 * n_clips) * frames_per_clip
    train = Frames(X, rows[:n_tr], y[:n_tr], clip[:n_tr])
    val = Frames(X, rows[n_tr:n_va], y[n_tr:n_va], clip[n_tr:n_va] - clip[n_tr])
    test = Frames(X, rows[n_va:], y[n_va:], clip[n_va:] - clip[n_va])
    return X, train, val, test, n_classes


@pytest.mark.parametrize("adam_impl", ["stacked", "fused"])
def test_grid_equals_sequential_reference(adam_impl):
    X, train, val, _, C = _problem(separation=0.15)
    scaler = Standardizer.fit(X, train.rows)
    s = MLPSettings(n_classes=C, grid=GRID, hidden_sizes=(32, 16), max_epochs=30, patience=4,
                    random_state=7, adam_impl=adam_impl)
    model = GridMLP(s).fit(train, val, scaler)
    points, best, params = fit_sequential(s, train, val, scaler)
    stopped_early = [p.epochs < s.max_epochs for p in points]
    assert any(stopped_early) and not all(stopped_early), "the case must exercise early stopping"
    for a, b in zip(model.points_, points):
        assert (a.epochs, a.best_epoch) == (b.epochs, b.best_epoch)
        assert a.val_loss == pytest.approx(b.val_loss, rel=1e-5)
        assert a.val_clip_accuracy == b.val_clip_accuracy
    assert model.best_index_ == best
    for (W1, b1), (W2, b2) in zip(model.params_, params):
        np.testing.assert_allclose(W1, W2, atol=1e-5)
        np.testing.assert_allclose(b1, b2, atol=1e-5)


def test_early_stopping_restores_the_best_epoch():
    X, train, val, _, C = _problem(separation=0.15, seed=3)
    scaler = Standardizer.fit(X, train.rows)
    s = MLPSettings(n_classes=C, grid=[(1e-3, 1e-5)], hidden_sizes=(32, 16), max_epochs=40,
                    patience=3, random_state=11)
    model = GridMLP(s).fit(train, val, scaler)
    p = model.points_[0]
    assert p.epochs == p.best_epoch + s.patience  # stopped patience epochs after the best
    # training again for exactly best_epoch epochs ends on the same weights: those restored
    again = GridMLP(dataclasses.replace(s, max_epochs=p.best_epoch, patience=1000)).fit(
        train, val, scaler)
    assert again.points_[0].best_epoch == p.best_epoch
    for (Wa, ba), (Wb, bb) in zip(model.params_, again.params_):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)
    # and the validation loss recorded is the minimum over the epochs trained
    losses = []
    for e in range(1, p.epochs + 1):
        m = GridMLP(dataclasses.replace(s, max_epochs=e, patience=1000)).fit(train, val, scaler)
        losses.append(m.points_[0].val_loss)
    assert min(losses) == pytest.approx(p.val_loss, rel=1e-6)


def test_grid_picks_the_best_validation_point():
    X, train, val, _, C = _problem(separation=0.3, seed=5)
    scaler = Standardizer.fit(X, train.rows)
    s = MLPSettings(n_classes=C, grid=GRID, hidden_sizes=(32, 16), max_epochs=8, patience=3,
                    random_state=1, selection_unit="frame")
    model = GridMLP(s).fit(train, val, scaler)
    accs = [p.val_frame_accuracy for p in model.points_]
    assert len(set(accs)) > 1
    best = max(accs)
    winners = [i for i, a in enumerate(accs) if a == best]
    assert model.best_index_ in winners
    losses = [model.points_[i].val_loss for i in winners]
    assert model.points_[model.best_index_].val_loss == min(losses)


def test_tie_breaks():
    pts = [GridPoint(1e-5, 1e-5, val_accuracy=0.8, val_loss=1.0),
           GridPoint(1e-4, 1e-5, val_accuracy=0.9, val_loss=0.9),
           GridPoint(1e-3, 1e-5, val_accuracy=0.9, val_loss=0.5)]
    assert select_winner(pts, "val_loss") == 2
    assert select_winner(pts, "first") == 1  # the authors' strict '>'


def test_clip_decision_sums_likelihoods_not_votes():
    # clip 0: two frames mildly for class 0, one frame strongly for class 1
    proba = np.array([[0.55, 0.45], [0.55, 0.45], [0.01, 0.99],  # votes say 0, sums say 1
                      [0.9, 0.1]])
    clip = np.array([0, 0, 0, 1])
    scores = clip_scores(proba, clip, 2)
    np.testing.assert_allclose(scores, [[1.11, 1.89], [0.9, 0.1]])
    assert scores.argmax(1).tolist() == [1, 0]


def test_standardizer_matches_scikit_learn():
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(5000, 7)) * [1, 10, 0.1, 3, 1, 1, 1] + 4).astype(np.float32)
    X[:, 5] = 2.0  # constant column: scale 1, as scikit-learn
    rows = rng.choice(5000, 3000, replace=False)
    ours = Standardizer.fit(X, rows, chunk=700)
    ref = StandardScaler().fit(X[rows].astype(np.float64))
    np.testing.assert_allclose(ours.mean, ref.mean_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.scale, ref.scale_, rtol=1e-5)
    np.testing.assert_allclose(ours.transform(X[:10]), ref.transform(X[:10]), atol=1e-4)
