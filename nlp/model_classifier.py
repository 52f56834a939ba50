"""The model-backed classifier: loads an artefact from models/ and combines it with the rules."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import joblib

from nlp.classifier import check_text
from nlp.combine import combine
from nlp.features import prepare
from nlp.model import FinwatchModel
from nlp.result import ClassificationResult
from nlp.rules import load_rule_engine


class ModelClassifier:
    """Rules + learned model (policy in nlp/combine.py)."""

    def __init__(self, model: FinwatchModel) -> None:
        self.model = model
        self.engine = load_rule_engine()
        self.name_version = str(model.meta.get("name_version", "model-unversioned"))

    @classmethod
    def load(cls, path: Path) -> ModelClassifier:
        """Load a joblib artefact written by `finwatch train`."""
        model = joblib.load(path)
        if not isinstance(model, FinwatchModel):
            raise TypeError(f"{path} is not a finwatch model artefact")
        return cls(model)

    def classify_text(self, text: str, title: str | None = None) -> ClassificationResult:
        """Classify one text (title, if any, adds context for the model only)."""
        check_text(text)
        return self.classify_many([text], [title])[0]

    def classify_many(
        self, texts: Sequence[str], titles: Sequence[str | None] | None = None
    ) -> list[ClassificationResult]:
        """Classify valid texts together so featurisation and prediction are vectorised."""
        texts = [check_text(t) for t in texts]
        if not texts:
            return []
        prep = prepare(texts, titles)
        proba = self.model.predict_proba(prep)
        m = self.model
        verdicts = [str(c) for c in m.verdict_head.classes_]
        sectors = [str(c) for c in m.sector_head.classes_]
        out = []
        for i, (text, p) in enumerate(zip(texts, prep, strict=True)):
            out.append(
                combine(
                    text,
                    p.match,
                    dict(zip(verdicts, proba["verdict"][i].tolist(), strict=True)),
                    dict(zip(sectors, proba["sector"][i].tolist(), strict=True)),
                    dict(zip(m.violation_codes, proba["violations"][i].tolist(), strict=True)),
                    m.thresholds,
                    self.engine.config,
                    getattr(m, "rule_thresholds", None),
                )
            )
        return out
