"""Honest figures: grouped cross-validation of model vs rules vs the keyword baseline.

Near-duplicate messages share a group (nlp/data.py) and a group never straddles folds. Plan
examples and unlabelled SMS text are added to the training side of every fold only; scoring is
on the real labelled messages alone.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedGroupKFold

from nlp.baseline import KeywordBaseline
from nlp.classifier import RuleClassifier
from nlp.combine import combine
from nlp.data import (
    Record,
    load_plan_examples,
    load_records,
    load_sms_texts,
    near_duplicate_groups,
)
from nlp.features import Prepared, prepare
from nlp.model import FinwatchModel, fit_model
from nlp.result import ClassificationResult
from nlp.rules import load_rule_engine
from nlp.vocab import load_vocabulary


def model_results(model: FinwatchModel, texts: list[str], prep: list[Prepared]) -> list:
    """Combined (rules + model) results for prepared texts."""
    proba = model.predict_proba(prep)
    verdicts = [str(c) for c in model.verdict_head.classes_]
    sectors = [str(c) for c in model.sector_head.classes_]
    config = load_rule_engine().config
    return [
        combine(
            t,
            p.match,
            dict(zip(verdicts, proba["verdict"][i].tolist(), strict=True)),
            dict(zip(sectors, proba["sector"][i].tolist(), strict=True)),
            dict(zip(model.violation_codes, proba["violations"][i].tolist(), strict=True)),
            model.thresholds,
            config,
            model.rule_thresholds,
        )
        for i, (t, p) in enumerate(zip(texts, prep, strict=True))
    ]


def score(records: list[Record], results: list[ClassificationResult]) -> dict[str, Any]:
    """Per-verdict P/R/F1, sector macro-F1 and per-violation recall (and precision)."""
    vocab = load_vocabulary()
    y_v = [r.verdict for r in records]
    p_v = [x.verdict for x in results]
    prec, rec, f1, sup = precision_recall_fscore_support(
        y_v, p_v, labels=list(vocab.verdicts), zero_division=0
    )
    verdict = {
        v: {
            "precision": float(prec[i]),
            "recall": float(rec[i]),
            "f1": float(f1[i]),
            "support": int(sup[i]),
        }
        for i, v in enumerate(vocab.verdicts)
    }
    y_s = [r.sector for r in records]
    present = sorted(set(y_s))
    sector_f1 = float(
        f1_score(y_s, [x.sector for x in results], labels=present, average="macro", zero_division=0)
    )
    violations = {}
    for code in vocab.violations:
        n = sum(code in r.violations for r in records)
        tp = sum(
            code in r.violations and code in x.violations
            for r, x in zip(records, results, strict=True)
        )
        flagged = sum(code in x.violations for x in results)
        violations[code] = {
            "support": n,
            "recall": tp / n if n else None,
            "precision": tp / flagged if flagged else None,
        }
    return {
        "verdict": verdict,
        "verdict_macro_f1": float(np.mean([verdict[v]["f1"] for v in vocab.verdicts])),
        "sector_macro_f1": sector_f1,
        "violations": violations,
        "n": len(records),
    }


def _majority_sector(records: list[Record]) -> str:
    sem = load_rule_engine().config.semantics
    c = collections.Counter(r.sector for r in records if r.sector != sem["no_sector"])
    return c.most_common(1)[0][0] if c else sem["no_sector"]


def cross_validate(
    records: list[Record],
    folds: int = 5,
    use_sms: bool = True,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    log: Any = None,
) -> dict[str, Any]:
    """Out-of-fold results for model, rules and baseline, scored on all labelled records."""
    codes = list(load_vocabulary().violations)
    texts = [r.text for r in records]
    groups = near_duplicate_groups(texts)
    prep = prepare(texts)
    extra = load_plan_examples()
    extra_prep = prepare([r.text for r in extra])
    sms_prep = prepare(load_sms_texts(exclude=texts)) if use_sms else []
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    model_out: list[Any] = [None] * len(records)
    base_out: list[Any] = [None] * len(records)
    y = [r.verdict for r in records]
    for k, (tr, te) in enumerate(splitter.split(texts, y, groups)):
        t0 = time.perf_counter()
        train_recs = [records[i] for i in tr] + extra
        model = fit_model(
            [prep[i] for i in tr] + extra_prep,
            [r.verdict for r in train_recs],
            [r.sector for r in train_recs],
            [r.violations for r in train_recs],
            codes,
            params,
            unlabeled=sms_prep,
        )
        res = model_results(model, [texts[i] for i in te], [prep[i] for i in te])
        baseline = KeywordBaseline(_majority_sector([records[i] for i in tr]))
        for i, x in zip(te, res, strict=True):
            model_out[i] = x
            base_out[i] = baseline.classify_text(texts[i])
        if log:
            print(
                f"fold {k + 1}/{folds}: {len(te)} held out, {time.perf_counter() - t0:.1f}s",
                file=log,
            )
    rules = RuleClassifier()
    rules_out = [rules.classify_text(t) for t in texts]
    return {
        "model": score(records, model_out),
        "rules": score(records, rules_out),
        "baseline": score(records, base_out),
        "folds": folds,
        "groups": int(len(set(groups.tolist()))),
        "plan_examples": len(extra),
        "sms_texts": len(sms_prep),
        "oof": model_out,
    }


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def format_report(cv: dict[str, Any], title: str = "Grouped cross-validation") -> str:
    """Markdown tables, model vs rules-only vs keyword baseline side by side."""
    vocab = load_vocabulary()
    systems = [s for s in ("model", "rules", "baseline") if s in cv]
    lines = [f"### {title}", ""]
    head = " | ".join(f"{s} P | {s} R | {s} F1" for s in systems)
    lines += [f"| verdict | n | {head} |", "|---" * (2 + 3 * len(systems)) + "|"]
    for v in vocab.verdicts:
        cells = " | ".join(
            f"{_fmt(cv[s]['verdict'][v]['precision'])} | {_fmt(cv[s]['verdict'][v]['recall'])} | "
            f"{_fmt(cv[s]['verdict'][v]['f1'])}"
            for s in systems
        )
        lines.append(
            f"| {v} {vocab.zh['verdicts'][v]} | {cv[systems[0]]['verdict'][v]['support']} "
            f"| {cells} |"
        )
    lines += ["", "| summary | " + " | ".join(systems) + " |", "|---" * (1 + len(systems)) + "|"]
    lines.append(
        "| verdict macro-F1 | "
        + " | ".join(_fmt(cv[s]["verdict_macro_f1"]) for s in systems)
        + " |"
    )
    lines.append(
        "| sector macro-F1 | " + " | ".join(_fmt(cv[s]["sector_macro_f1"]) for s in systems) + " |"
    )
    lines += [
        "",
        "| violation recall (precision) | n | " + " | ".join(systems) + " |",
        "|---" * (2 + len(systems)) + "|",
    ]
    for code in vocab.violations:
        n = cv[systems[0]]["violations"][code]["support"]
        cells = " | ".join(
            f"{_fmt(cv[s]['violations'][code]['recall'])} "
            f"({_fmt(cv[s]['violations'][code]['precision'])})"
            for s in systems
        )
        lines.append(f"| {code} {vocab.violation_zh(code)} | {n} | {cells} |")
    return "\n".join(lines) + "\n"


def run_evaluate(args: argparse.Namespace) -> int:
    """`finwatch evaluate`: grouped CV on --input, or score --model on --input as held out."""
    path = Path(args.input)
    records = load_records(path)
    if args.model:
        from nlp.model_classifier import ModelClassifier

        clf = ModelClassifier.load(Path(args.model))
        texts = [r.text for r in records]
        cv = {
            "model": score(records, clf.classify_many(texts)),
            "rules": score(records, [RuleClassifier().classify_text(t) for t in texts]),
            "baseline": score(
                records,
                [KeywordBaseline(_majority_sector(records)).classify_text(t) for t in texts],
            ),
        }
        title = f"{clf.name_version} on {path.name} (held-out set)"
    else:
        cv = cross_validate(records, folds=args.folds, use_sms=not args.no_sms, log=sys.stderr)
        title = (
            f"Grouped {args.folds}-fold cross-validation on {path.name} "
            f"({cv['groups']} near-duplicate groups)"
        )
    print(format_report(cv, title))
    return 0
