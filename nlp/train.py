"""`finwatch train`: grouped CV for the card, a final fit on everything, a versioned artefact.

The artefact is `models/finwatch-model-<UTC date>T<HHMM>-<hash>.joblib` (names sort by time,
so `load_classifier()` picks the newest) and `models/MODEL_CARD.md` records the data hash, the
date, the parameters and the cross-validated figures for model, rules and keyword baseline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import joblib

from nlp.data import (
    PLAN_EXAMPLES,
    file_sha256,
    load_plan_examples,
    load_records,
    load_sms_texts,
)
from nlp.evaluate import cross_validate, format_report
from nlp.features import prepare
from nlp.model import DEFAULT_PARAMS, FinwatchModel, fit_model
from nlp.paths import MODELS_DIR, labeled_path, sms_path
from nlp.rules_config import load_rules_config
from nlp.vocab import load_vocabulary


def train_final(
    data: Path, use_sms: bool = True, params: dict[str, Any] | None = None
) -> tuple[FinwatchModel, dict[str, Any]]:
    """Fit on all labelled records + plan examples (features also see unlabelled SMS text)."""
    records = load_records(data)
    extra = load_plan_examples()
    everything = records + extra
    sms = load_sms_texts(exclude=[r.text for r in records]) if use_sms else []
    model = fit_model(
        prepare([r.text for r in everything]),
        [r.verdict for r in everything],
        [r.sector for r in everything],
        [r.violations for r in everything],
        list(load_vocabulary().violations),
        params,
        unlabeled=prepare(sms) if sms else None,
    )
    info = {"n_labelled": len(records), "n_plan_examples": len(extra), "n_sms_texts": len(sms)}
    return model, info


def _card(meta: dict[str, Any], report: str | None) -> str:
    p = meta["params"]
    lines = [
        "# Model card: finwatch illegal-finance-promotion classifier",
        "",
        f"- **Artefact**: `{meta['artefact']}` (`name_version` `{meta['name_version']}`)",
        f"- **Trained**: {meta['created']} UTC, scikit-learn {meta['sklearn']}",
        f"- **Data**: `{meta['data_file']}` sha256 `{meta['data_sha256']}`, "
        f"{meta['n_labelled']} labelled messages; {meta['n_plan_examples']} plan examples "
        f"(`nlp/data/plan_examples.jsonl`, sha256 `{meta['plan_examples_sha256']}`), "
        "training only; "
        f"{meta['n_sms_texts']} unlabelled SMS texts (`{meta['sms_file']}`, sha256 "
        f"`{meta['sms_sha256']}`) used only to fit the vocabularies and IDF weights.",
        f"- **Rules**: `config/rules.yaml` version {meta['rules_version']} "
        "(rule hits are model features and override rules add codes, see `nlp/combine.py`).",
        "- **Labels**: `config/labels.yaml`; label corrections in "
        "`nlp/data/label_corrections.jsonl` applied before training.",
        "",
        "## Model",
        "",
        "- Features (`nlp/features.py`): normalised text (`nlp/normalize.py`) -> jieba words with "
        "`config/finance_userdict.txt` (uni+bigrams, TF-IDF) + character n-grams (TF-IDF) + rule "
        "features (rule ids, codes, sector cues).",
        "- Heads (`nlp/model.py` `LinearHead`): logistic regression with sigmoid calibration "
        "(`CalibratedClassifierCV`, 3-fold) for verdict, sector and each violation code "
        "(multi-label, one binary model per code). Classes or codes with fewer than "
        "`min_count` training examples are not learned and are left to the rules.",
        "- `risk_score` = calibrated P(verdict = violation), kept consistent with the verdict "
        "(>= 0.5 for violation, < 0.5 otherwise).",
        f"- Parameters: `{json.dumps(p, ensure_ascii=False, default=str)}`",
        "",
        "## Evaluation",
        "",
        "Grouped cross-validation: messages that are near-copies (digit-blind character-trigram "
        "cosine >= 0.5) share a group and never straddle folds (`StratifiedGroupKFold`, by "
        "verdict). Plan examples and SMS text join the training side of each fold only. "
        "`rules` = rules alone (no model); `baseline` = the plan's 工商统计 word list alone "
        "(a hit means violation with every code, sector = the training folds' most common "
        "financial sector; see `nlp/baseline.py`). Recall (precision) per code.",
        "",
        report or "_cross-validation skipped (--no-cv)_",
        "",
        "## Limits",
        "",
        "- The rules and the two decision thresholds (0.35 for a code, 0.2 when a rule for it "
        "fired) and C were chosen while looking at these same out-of-fold figures, and the rules "
        "were written with the labelled set in view: the rules column and, to a smaller degree, "
        "the model column are optimistic. The baseline column is not tuned.",
        "- Trained on SMS ads (2010s); web pages read differently. Rare codes "
        "(illegal_fundraising, crowdfunding_violation, payment_risk) and sectors rest on the rules "
        "and a handful of plan examples; their figures above have tiny support.",
        "- Labels are single-pass and noisy (see the data README and ADDENDUM).",
        "",
    ]
    return "\n".join(lines)


def run_train(args: argparse.Namespace) -> int:
    """Train, write the artefact and the model card; print the CV report."""
    data = Path(args.input) if args.input else labeled_path()
    out_dir = Path(args.models_dir) if args.models_dir else MODELS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    use_sms = not args.no_sms
    params = DEFAULT_PARAMS
    report = None
    cv_metrics = None
    t0 = time.perf_counter()
    if not args.no_cv:
        cv = cross_validate(load_records(data), folds=args.folds, use_sms=use_sms, log=sys.stderr)
        cv_metrics = {k: cv[k] for k in ("model", "rules", "baseline")}
        report = format_report(
            cv, f"Grouped {args.folds}-fold cross-validation ({cv['groups']} groups)"
        )
        print(report)
    model, info = train_final(data, use_sms, params)
    now = dt.datetime.now(dt.UTC)
    data_sha = file_sha256(data)
    digest = hashlib.sha256(
        (data_sha + json.dumps(params, sort_keys=True, default=str)).encode()
    ).hexdigest()[:6]
    stamp = now.strftime("%Y-%m-%dT%H%M")
    name = f"finwatch-model-{stamp}-{digest}.joblib"
    import sklearn

    sp = sms_path()
    meta = {
        "name_version": f"model-{stamp}-{digest}",
        "artefact": name,
        "created": now.strftime("%Y-%m-%d %H:%M"),
        "sklearn": sklearn.__version__,
        "data_file": str(data.name),
        "data_sha256": data_sha,
        "plan_examples_sha256": file_sha256(PLAN_EXAMPLES) if PLAN_EXAMPLES.exists() else "-",
        "sms_file": sp.name,
        "sms_sha256": file_sha256(sp) if use_sms and sp.exists() else "-",
        "rules_version": load_rules_config().version,
        "params": params,
        "cv_folds": None if args.no_cv else args.folds,
        "cv_metrics": cv_metrics,
        **info,
    }
    model.meta = meta
    joblib.dump(model, out_dir / name, compress=3)
    (out_dir / "MODEL_CARD.md").write_text(_card(meta, report), encoding="utf-8")
    size = (out_dir / name).stat().st_size / 1e6
    print(
        f"wrote {out_dir / name} ({size:.1f} MB) and MODEL_CARD.md in "
        f"{time.perf_counter() - t0:.0f}s",
        file=sys.stderr,
    )
    return 0
