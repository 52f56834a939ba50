"""Load and validate config/rules.yaml; rules are data, this module only checks their shape.

Kept apart from the matcher so the normaliser can read the variant table without a cycle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from nlp.paths import CONFIG_DIR
from nlp.vocab import load_vocabulary


@dataclass(frozen=True)
class RuleSpec:
    """One documented rule: words and regexes that evidence one violation code."""

    id: str
    code: str
    source: str
    description: str
    words: tuple[str, ...]
    regex: tuple[str, ...]
    weight: float = 0.6
    override: bool = False


@dataclass(frozen=True)
class SectorCue:
    """Words that point at a sector (GUIDELINE 'sector')."""

    sector: str
    words: tuple[str, ...]
    weight: float = 1.0
    standalone: bool = True


@dataclass(frozen=True)
class RulesConfig:
    """The whole rules file, validated against the label vocabulary."""

    rules: tuple[RuleSpec, ...]
    sector_cues: tuple[SectorCue, ...]
    code_sectors: dict[str, str]
    semantics: dict[str, Any]
    variants: dict[str, str] = field(default_factory=dict)
    version: int = 1
    negation_cues: tuple[str, ...] = ()
    clause_breaks: str = ""


class RulesConfigError(ValueError):
    """config/rules.yaml does not match the vocabulary or has a broken pattern."""


def _expand(pattern: str, macros: dict[str, str]) -> str:
    for name, value in macros.items():
        pattern = pattern.replace("{" + name + "}", value)
    return pattern


def parse_rules_config(raw: dict) -> RulesConfig:
    """Validate a parsed rules document (codes from labels.yaml, regexes compile)."""
    vocab = load_vocabulary()
    macros = {str(k): str(v) for k, v in (raw.get("macros") or {}).items()}
    rules: list[RuleSpec] = []
    seen: set[str] = set()
    for item in raw.get("rules") or []:
        rid, code = str(item["id"]), str(item["code"])
        if code not in vocab.violations:
            raise RulesConfigError(f"rule {rid}: unknown violation code {code!r}")
        if rid in seen:
            raise RulesConfigError(f"duplicate rule id {rid}")
        seen.add(rid)
        regexes = tuple(_expand(str(p), macros) for p in item.get("regex") or [])
        for p in regexes:
            try:
                re.compile(p)
            except re.error as exc:
                raise RulesConfigError(f"rule {rid}: bad regex {p!r}: {exc}") from exc
        words = tuple(str(w) for w in item.get("words") or [])
        if not words and not regexes:
            raise RulesConfigError(f"rule {rid}: no words and no regex")
        rules.append(
            RuleSpec(
                id=rid,
                code=code,
                source=str(item.get("source", "")),
                description=str(item.get("description", "")),
                words=words,
                regex=regexes,
                weight=float(item.get("weight", 0.6)),
                override=bool(item.get("override", False)),
            )
        )
    cues = []
    for sector, item in (raw.get("sector_cues") or {}).items():
        if sector not in vocab.sectors:
            raise RulesConfigError(f"sector_cues: unknown sector {sector!r}")
        cues.append(
            SectorCue(
                sector=sector,
                words=tuple(str(w) for w in item.get("words") or []),
                weight=float(item.get("weight", 1.0)),
                standalone=bool(item.get("standalone", True)),
            )
        )
    code_sectors = {str(k): str(v) for k, v in (raw.get("code_sectors") or {}).items()}
    for code, sector in code_sectors.items():
        if code not in vocab.violations or sector not in vocab.sectors:
            raise RulesConfigError(f"code_sectors: {code!r} -> {sector!r} not in vocabulary")
    semantics = {str(k): v for k, v in (raw.get("semantics") or {}).items()}
    for key in ("violation_verdict", "financial_verdict", "other_verdict"):
        if semantics.get(key) not in vocab.verdicts:
            raise RulesConfigError(f"semantics.{key} must be a verdict in labels.yaml")
    if semantics.get("no_sector") not in vocab.sectors:
        raise RulesConfigError("semantics.no_sector must be a sector in labels.yaml")
    variants = {
        str(k): str(v) for k, v in ((raw.get("normalisation") or {}).get("variants") or {}).items()
    }
    negation = raw.get("negation") or {}
    return RulesConfig(
        negation_cues=tuple(str(w) for w in negation.get("cues") or []),
        clause_breaks=str(negation.get("clause_breaks", "")),
        rules=tuple(rules),
        sector_cues=tuple(cues),
        code_sectors=code_sectors,
        semantics=semantics,
        variants=variants,
        version=int(raw.get("version", 1)),
    )


@lru_cache(maxsize=4)
def load_rules_config(path: str | None = None) -> RulesConfig:
    """Load (and cache) config/rules.yaml or another rules file."""
    p = Path(path) if path else CONFIG_DIR / "rules.yaml"
    return parse_rules_config(yaml.safe_load(p.read_text(encoding="utf-8")))
