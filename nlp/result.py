"""The classifier's output types: what alerts, the batch command and Elasticsearch store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


class InvalidTextError(ValueError):
    """The input has no usable text (missing, not a string); the batch turns it into an error."""


class EmptyTextError(InvalidTextError):
    """The text is empty or whitespace only."""


@dataclass(frozen=True)
class Evidence:
    """Why a violation was flagged: offsets into the ORIGINAL text and the rule that fired.

    `rule` is a rule id from config/rules.yaml, or "model" for a violation the learned model
    predicted without any rule span (then start=0, end=len(text): the whole text is the evidence).
    """

    code: str
    start: int
    end: int
    text: str
    rule: str


@dataclass(frozen=True)
class ClassificationResult:
    """Verdict, sector, violation codes, risk in [0, 1] and evidence for one document."""

    verdict: str
    sector: str
    violations: list[str] = field(default_factory=list)
    risk_score: float = 0.0
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready dict with exactly the batch-contract keys."""
        return {
            "verdict": self.verdict,
            "sector": self.sector,
            "violations": list(self.violations),
            "risk_score": float(self.risk_score),
            "evidence": [asdict(e) for e in self.evidence],
        }
