"""The learned part: a calibrated linear head, and the three-head bundle that ships in models/.

`LinearHead` is a scikit-learn classifier over a feature matrix: 1-D `y` -> multi-class
(verdict, sector); 2-D 0/1 `y` -> multi-label (violations), one calibrated binary model per
column. `Pipeline([("features", TextFeatures()), ("head", LinearHead())])` is the composable
unit (clone, GridSearchCV). `FinwatchModel` shares one fitted `TextFeatures` between the three
heads so a document is featurised once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from nlp.features import Prepared, TextFeatures


class LinearHead(ClassifierMixin, BaseEstimator):
    """Logistic regression with sigmoid calibration (probabilities feed `risk_score`).

    Classes (or label columns) with fewer than `min_count` examples cannot be calibrated by
    cross-validation: they get probability 0 and are left to the rules (documented in the card).
    """

    def __init__(
        self,
        C: float = 4.0,
        class_weight: str | None = "balanced",
        calibration: str = "sigmoid",
        cv: int = 3,
        min_count: int = 5,
        max_iter: int = 2000,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.calibration = calibration
        self.cv = cv
        self.min_count = min_count
        self.max_iter = max_iter

    def _base(self) -> Any:
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
        if self.calibration == "none":
            return lr
        return CalibratedClassifierCV(lr, method=self.calibration, cv=self.cv, ensemble=False)

    def fit(self, X: Any, y: Any) -> LinearHead:
        """Fit on a feature matrix; `y` 1-D labels or a 2-D 0/1 indicator matrix."""
        y_arr = np.asarray(y)
        self.multilabel_ = y_arr.ndim == 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if self.multilabel_:
                self.classes_ = np.arange(y_arr.shape[1])
                self.estimators_ = []
                for j in range(y_arr.shape[1]):
                    col = y_arr[:, j].astype(int)
                    pos = int(col.sum())
                    if pos >= max(self.min_count, self.cv) and len(col) - pos >= self.cv:
                        self.estimators_.append(clone(self._base()).fit(X, col))
                    else:
                        self.estimators_.append(None)
            else:
                self.classes_ = np.unique(y_arr)
                counts = {c: int((y_arr == c).sum()) for c in self.classes_}
                keep_classes = [
                    c for c in self.classes_ if counts[c] >= max(self.min_count, self.cv)
                ]
                mask = np.isin(y_arr, keep_classes)
                self.estimator_ = clone(self._base()).fit(X[mask], y_arr[mask])
                self.fitted_classes_ = np.asarray(self.estimator_.classes_)
        return self

    def _sklearn_proba(self, X: Any) -> np.ndarray:
        """Reference path through scikit-learn's own predict_proba (slow per call)."""
        n = X.shape[0]
        if self.multilabel_:
            out = np.zeros((n, len(self.estimators_)))
            for j, est in enumerate(self.estimators_):
                if est is not None:
                    out[:, j] = est.predict_proba(X)[:, 1]
            return out
        out = np.zeros((n, len(self.classes_)))
        idx = np.searchsorted(self.classes_, self.fitted_classes_)
        out[:, idx] = self.estimator_.predict_proba(X)
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        """Multi-class: (n, n_classes) rows summing to 1. Multi-label: (n, n_labels) P(label).

        Sigmoid-calibrated heads are evaluated as plain matrix algebra (`_FastSigmoid`): the
        same numbers as scikit-learn's path without its per-call validation, which dominated
        single-document latency (about 4 ms per document).
        """
        check_is_fitted(self, "classes_")
        fast = self.__dict__.get("_fast")
        if fast is None:
            fast = self.__dict__["_fast"] = self._compile()
        if fast is False:
            return self._sklearn_proba(X)
        n = X.shape[0]
        if self.multilabel_:
            out = np.zeros((n, len(self.estimators_)))
            for j, f in fast:
                out[:, j] = f.proba(X)[:, 1]
            return out
        out = np.zeros((n, len(self.classes_)))
        idx = np.searchsorted(self.classes_, self.fitted_classes_)
        out[:, idx] = fast.proba(X)
        return out

    def _compile(self) -> Any:
        if self.calibration != "sigmoid":
            return False
        if self.multilabel_:
            return [(j, _FastSigmoid(e)) for j, e in enumerate(self.estimators_) if e is not None]
        return _FastSigmoid(self.estimator_)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_fast", None)
        return state

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class, or the 0/1 matrix of labels with P >= 0.5."""
        proba = self.predict_proba(X)
        if self.multilabel_:
            return (proba >= 0.5).astype(int)
        return self.classes_[np.argmax(proba, axis=1)]


class _FastSigmoid:
    """A fitted CalibratedClassifierCV(LogisticRegression, sigmoid, ensemble=False) as arrays."""

    def __init__(self, calibrated: CalibratedClassifierCV) -> None:
        (cc,) = calibrated.calibrated_classifiers_
        lr = cc.estimator
        self.n_classes = len(cc.classes)
        self.W = np.ascontiguousarray(lr.coef_.T)
        self.b = lr.intercept_.copy()
        self.a = np.array([c.a_ for c in cc.calibrators], dtype=float)
        self.c = np.array([c.b_ for c in cc.calibrators], dtype=float)
        self.pos = np.searchsorted(cc.classes, lr.classes_)

    def proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, columns in the calibrated classifier's class order."""
        d = np.asarray(X @ self.W) + self.b
        p = expit(-(self.a * d + self.c))
        n = d.shape[0]
        if self.n_classes == 2:
            return np.column_stack([1.0 - p[:, 0], p[:, 0]])
        out = np.zeros((n, self.n_classes))
        out[:, self.pos] = p
        den = out.sum(axis=1, keepdims=True)
        uniform = np.full_like(out, 1.0 / self.n_classes)
        return np.divide(out, den, out=uniform, where=den != 0)


@dataclass
class FinwatchModel:
    """The shipped artefact: shared features, three heads, per-code thresholds, metadata."""

    features: TextFeatures
    verdict_head: LinearHead
    sector_head: LinearHead
    violation_head: LinearHead
    violation_codes: list[str]
    thresholds: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)
    rule_thresholds: dict[str, float] = field(default_factory=dict)

    def predict_proba(self, prep: list[Prepared]) -> dict[str, np.ndarray]:
        """Probabilities of all three heads for prepared documents."""
        X = self.features.transform(prep)
        return {
            "verdict": self.verdict_head.predict_proba(X),
            "sector": self.sector_head.predict_proba(X),
            "violations": self.violation_head.predict_proba(X),
        }


DEFAULT_PARAMS: dict[str, Any] = {
    "features": {
        "word_ngram_range": (1, 2),
        "char_ngram_range": (1, 3),
        "max_word_features": 30000,
        "max_char_features": 40000,
        "min_df": 2,
        "use_rules": True,
        "rule_weight": 1.0,
    },
    "verdict_head": {"C": 10.0, "class_weight": "balanced"},
    "sector_head": {"C": 10.0, "class_weight": "balanced"},
    "violation_head": {"C": 10.0, "class_weight": "balanced"},
    "threshold": 0.35,
    "rule_threshold": 0.2,
}


def fit_model(
    prep: list[Prepared],
    verdicts: list[str],
    sectors: list[str],
    violations: list[list[str]],
    codes: list[str],
    params: dict[str, Any] | None = None,
    unlabeled: list[Prepared] | None = None,
) -> FinwatchModel:
    """Fit features (on labelled + unlabelled texts) and the three heads (on labelled only)."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    features = TextFeatures(**p["features"]).fit(prep + (unlabeled or []))
    X = features.transform(prep)
    Y = np.array([[int(c in v) for c in codes] for v in violations])
    return FinwatchModel(
        features=features,
        verdict_head=LinearHead(**p["verdict_head"]).fit(X, np.array(verdicts)),
        sector_head=LinearHead(**p["sector_head"]).fit(X, np.array(sectors)),
        violation_head=LinearHead(**p["violation_head"]).fit(X, Y),
        violation_codes=list(codes),
        thresholds={c: float(p["threshold"]) for c in codes},
        rule_thresholds={c: float(p.get("rule_threshold", p["threshold"])) for c in codes},
    )
