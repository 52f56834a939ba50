"""How rules and the model combine into one result (the documented policy).

1. Rule hits are model features (nlp/features.py), so the model learns how far to trust each.
2. A violation code is reported when the model's calibrated P(code) >= its threshold (0.35 in
   the shipped model; 0.2 when a rule for that code fired: rule evidence lowers the bar), OR
   when an `override: true` rule fired for it and the model does not think the text is
   non-financial (P(other) < 0.5). Override hits always carry their rule evidence.
3. Evidence: every reported code carries its rule spans when any rule for that code fired; a
   code the model found with no rule span gets one evidence item with rule "model", start 0 and
   end len(text) (the whole text is the evidence), so no code is ever listed without evidence.
4. Verdict: violation iff at least one code is reported; if the verdict head's top class is
   violation but no code passed, the most probable code is reported (with its evidence). Else
   the more probable of financial / other.
5. Sector: the sector head's most probable sector consistent with the verdict (`none` for
   other, never `none` for financial or violation).
6. risk_score: the calibrated P(verdict = violation), raised to at least 0.5 when the verdict is
   violation and capped below 0.5 otherwise, so score and verdict never disagree.
"""

from __future__ import annotations

import numpy as np

from nlp.result import ClassificationResult, Evidence
from nlp.rules import RuleMatch
from nlp.rules_config import RulesConfig

MODEL_RULE = "model"


def combine(
    text: str,
    match: RuleMatch,
    p_verdict: dict[str, float],
    p_sector: dict[str, float],
    p_codes: dict[str, float],
    thresholds: dict[str, float],
    config: RulesConfig,
    rule_thresholds: dict[str, float] | None = None,
) -> ClassificationResult:
    """One document's result from its rule match and the three heads' probabilities."""
    sem = config.semantics
    v_viol, v_fin, v_other = (
        sem["violation_verdict"],
        sem["financial_verdict"],
        sem["other_verdict"],
    )
    no_sector = sem["no_sector"]
    evidence = match.evidence(text)
    rule_codes = {e.code for e in evidence}
    override_codes = {h.rule.code for h in match.hits if h.rule.override}
    financial_ok = p_verdict.get(v_other, 0.0) < 0.5
    rule_thr = rule_thresholds or {}
    codes = [
        c
        for c, p in p_codes.items()
        if p >= (rule_thr.get(c, 0.5) if c in rule_codes else thresholds.get(c, 0.5))
    ]
    if financial_ok:
        codes += [c for c in override_codes if c not in codes]
    top_verdict = max(p_verdict, key=lambda k: p_verdict[k]) if p_verdict else v_other
    if not codes and top_verdict == v_viol and p_codes:
        codes = [max(p_codes, key=lambda k: p_codes[k])]
    order = {c: i for i, c in enumerate(p_codes)}
    codes = sorted(set(codes), key=lambda c: order.get(c, len(order)))
    if codes:
        verdict = v_viol
    else:
        verdict = v_fin if p_verdict.get(v_fin, 0.0) >= p_verdict.get(v_other, 0.0) else v_other
    if verdict == v_other:
        sector = no_sector
    else:
        choices = {s: p for s, p in p_sector.items() if s != no_sector}
        sector = max(choices, key=lambda s: choices[s]) if choices else no_sector
    kept = [e for e in evidence if e.code in codes]
    for c in codes:
        if c not in rule_codes:
            kept.append(Evidence(code=c, start=0, end=len(text), text=text, rule=MODEL_RULE))
    risk = float(p_verdict.get(v_viol, 0.0))
    risk = max(risk, 0.5) if verdict == v_viol else min(risk, 0.4999)
    return ClassificationResult(verdict, sector, codes, round(float(np.clip(risk, 0, 1)), 4), kept)
