"""Multinomial logistic regression with an L2 penalty, fitted by L-BFGS (``classifier="logreg"``).

MTEB's audio classification fits scikit-learn's ``LogisticRegression()`` with its defaults on
the few-shot training clips: multinomial, L2 with ``C = 1``, the intercept not penalised,
L-BFGS for at most 100 iterations, no standardisation and no validation set. scikit-learn is
not a dependency of bench, so this module minimises the same objective with SciPy's L-BFGS-B
and the settings scikit-learn passes to it (``gtol = 1e-4``, ``ftol = 64 * eps``, 50 line-search
steps), the objective scaled as scikit-learn 1.1+ scales it:

    mean over rows of the cross-entropy  +  ||W||^2 / (2 * C * n)

The tests compare the fitted coefficients with scikit-learn's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.evaluation.frames import Frames, Standardizer
from bench.evaluation.selection import GridPoint


@dataclass
class LogRegSettings:
    n_classes: int
    C: float = 1.0
    max_iter: int = 100
    tol: float = 1e-4


class LogisticRegression:
    """Fit on training frames; predict class likelihoods.

    Attributes
    ----------
    coef_ : ndarray, shape (dim, n_classes), float64
    intercept_ : ndarray, shape (n_classes,)
    n_iter_ : int
        L-BFGS iterations used.
    points_, best_index_ :
        One grid point (no grid; no validation: its validation fields stay NaN), so that the
        protocol records every classifier alike.
    """

    def __init__(self, settings: LogRegSettings):
        self.settings = settings

    def fit(self, train: Frames, val: Frames | None, scaler: Standardizer, on_epoch=None
            ) -> "LogisticRegression":
        """Fit on ``train`` (``val`` and ``on_epoch`` are not used: no validation, no epochs;
        they keep the classifier interface of :mod:`bench.evaluation.classifiers`)."""
        from scipy.optimize import minimize

        s = self.settings
        X = scaler.transform(train.X[train.rows]).astype(np.float64)
        n, dim = X.shape
        C = s.n_classes
        Y = np.zeros((n, C))
        Y[np.arange(n), train.y] = 1.0
        alpha = 1.0 / (s.C * n)

        def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
            W = w[:dim * C].reshape(dim, C)
            b = w[dim * C:]
            z = X @ W + b
            z -= z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            loss = -(Y * logp).sum() / n + 0.5 * alpha * (W * W).sum()
            d = (np.exp(logp) - Y) / n
            grad = np.concatenate([(X.T @ d + alpha * W).ravel(), d.sum(axis=0)])
            return loss, grad

        res = minimize(objective, np.zeros(dim * C + C), jac=True, method="L-BFGS-B",
                       options={"maxiter": s.max_iter, "maxls": 50, "gtol": s.tol,
                                "ftol": 64 * np.finfo(float).eps})
        self.coef_ = res.x[:dim * C].reshape(dim, C)
        self.intercept_ = res.x[dim * C:]
        self.n_iter_ = int(res.nit)
        #: scikit-learn warns likewise (ConvergenceWarning) and keeps the last iterate
        self.warnings_ = ([] if res.success else
                          [f"logistic regression stopped before converging ({res.message}); "
                           f"max_epochs caps the L-BFGS iterations"])
        self.points_ = [GridPoint(float("nan"), float("nan"), epochs=self.n_iter_,
                                  best_epoch=self.n_iter_)]
        self.best_index_ = 0
        return self

    def predict_proba(self, frames: Frames, scaler: Standardizer, chunk: int = 8192
                      ) -> np.ndarray:
        out = np.empty((len(frames), self.settings.n_classes), dtype=np.float32)
        for start in range(0, len(frames), chunk):
            rows = frames.rows[start:start + chunk]
            z = scaler.transform(frames.X[rows]).astype(np.float64) @ self.coef_ + self.intercept_
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            out[start:start + len(rows)] = e / e.sum(axis=1, keepdims=True)
        return out
