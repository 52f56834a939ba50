"""The classifier objects the pipeline uses, and `load_classifier` that picks one.

`RuleClassifier` works with no trained model: the plan's rules decide alone. `ModelClassifier`
(nlp/model_classifier.py) adds the learned model; see nlp/combine.py for how they combine.
`load_classifier()` takes the newest artefact in models/ and falls back to rules only, so an
empty models/ never stops the pipeline.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from nlp.paths import MODELS_DIR
from nlp.result import ClassificationResult, EmptyTextError, InvalidTextError
from nlp.rules import RuleEngine, RuleMatch, load_rule_engine

log = logging.getLogger(__name__)


def check_text(text: object) -> str:
    """Return `text` if usable, else raise an InvalidTextError (a ValueError) saying why."""
    if not isinstance(text, str):
        raise InvalidTextError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise EmptyTextError("text is empty")
    return text


class Classifier(Protocol):
    """What the pipeline needs from any classifier."""

    name_version: str

    def classify_text(self, text: str, title: str | None = None) -> ClassificationResult: ...

    def classify_many(
        self, texts: Sequence[str], titles: Sequence[str | None] | None = None
    ) -> list[ClassificationResult]: ...


def rules_decision(engine: RuleEngine, match: RuleMatch, text: str) -> ClassificationResult:
    """Rules-only verdict: violation codes need financial context (a standalone sector cue or
    an override rule), the sector is the best-scoring cue plus the codes' sectors, and the risk
    is 1 - prod(1 - weight) over the distinct rules that fired."""
    sem = engine.config.semantics
    overriding = any(h.rule.override for h in match.hits)
    min_score = float(sem.get("min_financial_score", 1))
    financial = match.standalone_score >= min_score or overriding
    codes = match.codes if financial else []
    scores = dict(match.cue_scores)
    for code in codes:
        sector = engine.config.code_sectors.get(code)
        if sector:
            scores[sector] = scores.get(sector, 0.0) + 2.0
    if codes:
        verdict = sem["violation_verdict"]
    elif financial:
        verdict = sem["financial_verdict"]
    else:
        verdict = sem["other_verdict"]
    sector = max(scores, key=lambda s: scores[s]) if scores and financial else sem["no_sector"]
    if codes:
        weights = {h.rule.id: h.rule.weight for h in match.hits}
        risk = 1.0 - math.prod(1.0 - w for w in weights.values())
    else:
        risk = 0.1 if financial else 0.0
    evidence = [e for e in match.evidence(text) if e.code in codes]
    return ClassificationResult(verdict, sector, codes, round(risk, 4), evidence)


class RuleClassifier:
    """The plan's rules alone: no model needed, every violation carries rule evidence."""

    def __init__(self, engine: RuleEngine | None = None) -> None:
        self.engine = engine or load_rule_engine()
        self.name_version = f"rules-{self.engine.config.version}"

    def classify_text(self, text: str, title: str | None = None) -> ClassificationResult:
        """Classify one text; `title` is not used by the rules (evidence indexes `text`)."""
        check_text(text)
        return rules_decision(self.engine, self.engine.match(text), text)

    def classify_many(
        self, texts: Sequence[str], titles: Sequence[str | None] | None = None
    ) -> list[ClassificationResult]:
        """Classify valid texts in order (callers check texts first; see nlp/batch.py)."""
        return [self.classify_text(t) for t in texts]


def newest_artefact(models_dir: Path = MODELS_DIR) -> Path | None:
    """The newest model artefact (names sort by date, then version) or None."""
    if not models_dir.is_dir():
        return None
    found = sorted(models_dir.glob("finwatch-model-*.joblib"))
    return found[-1] if found else None


def load_classifier(model_path: str | Path | None = None) -> Classifier:
    """A ready classifier: `model_path`, else the newest artefact in models/, else rules only.

    An explicit path that fails to load raises; a broken default artefact is logged and the
    rules are used, so the pipeline never stops because of models/.
    """
    if model_path is not None:
        from nlp.model_classifier import ModelClassifier

        return ModelClassifier.load(Path(model_path))
    path = newest_artefact()
    if path is None:
        return RuleClassifier()
    try:
        from nlp.model_classifier import ModelClassifier

        return ModelClassifier.load(path)
    except Exception:  # noqa: BLE001 - any broken artefact must not stop the pipeline
        log.exception("could not load model %s; using rules only", path)
        return RuleClassifier()
