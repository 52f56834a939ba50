"""`finwatch train | evaluate | classify`: the NLP subcommands the lead's CLI registers.

`register(subparsers)` adds them to monitor/cli.py's parser; `python -m nlp.cli ...` runs them
standalone. Heavy imports happen inside the commands so `finwatch --help` stays fast.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path


def _cmd_classify(args: argparse.Namespace) -> int:
    from nlp.batch import classify_stream
    from nlp.classifier import RuleClassifier, load_classifier

    clf = RuleClassifier() if args.rules_only else load_classifier(args.model)
    # undecodable bytes become U+FFFD so one bad line cannot stop the batch
    if args.input == "-":
        src = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    else:
        src = open(args.input, encoding="utf-8", errors="replace")  # noqa: SIM115
    dst = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        stats = classify_stream(clf, src, dst)
    finally:
        if args.input != "-":
            src.close()
        if dst is not sys.stdout:
            dst.close()
    print(
        f"{clf.name_version}: {stats.classified} classified, {stats.errors} errors "
        f"({stats.total} lines)",
        file=sys.stderr,
    )
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from nlp.train import run_train

    return run_train(args)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from nlp.evaluate import run_evaluate

    return run_evaluate(args)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the train, evaluate and classify subcommands to a parent parser."""
    p = subparsers.add_parser(
        "classify",
        help="classify JSON lines (text, optional id/title/url) into verdict/sector/violations",
        description="Each input line is a JSON object with `text`; each output line is the same "
        "object plus verdict, sector, violations, risk_score and evidence, or an `error` field.",
    )
    p.add_argument("--input", required=True, help="input JSON lines file ('-' for stdin)")
    p.add_argument("--output", required=True, help="output JSON lines file ('-' for stdout)")
    p.add_argument("--model", type=Path, default=None, help="model artefact (default: newest)")
    p.add_argument("--rules-only", action="store_true", help="ignore models/ and use rules only")
    p.set_defaults(func=_cmd_classify)

    p = subparsers.add_parser(
        "train",
        help="train the model on the labelled set and write a versioned artefact to models/",
        description="Grouped cross-validation, then a final fit on all data; writes "
        "models/finwatch-model-<date>-<hash>.joblib and models/MODEL_CARD.md.",
    )
    p.add_argument("--input", type=Path, default=None, help="labelled JSON lines (default: shared)")
    p.add_argument("--models-dir", type=Path, default=None, help="output folder (default: models/)")
    p.add_argument("--folds", type=int, default=5, help="grouped CV folds (default 5)")
    p.add_argument("--no-sms", action="store_true", help="do not use the raw SMS corpus")
    p.add_argument("--no-cv", action="store_true", help="skip cross-validation (quick fit)")
    p.set_defaults(func=_cmd_train)

    p = subparsers.add_parser(
        "evaluate",
        help="grouped-CV (or held-out) metrics: model vs rules vs the plan's keyword baseline",
        description="With the training file, scores held-out folds of grouped cross-validation; "
        "with --model, scores that artefact on the file as a held-out set.",
    )
    p.add_argument("--input", type=Path, required=True, help="labelled JSON lines")
    p.add_argument("--model", type=Path, default=None, help="score this artefact on --input")
    p.add_argument("--folds", type=int, default=5, help="grouped CV folds (default 5)")
    p.add_argument("--no-sms", action="store_true", help="do not use the raw SMS corpus")
    p.set_defaults(func=_cmd_evaluate)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: python -m nlp.cli {train,evaluate,classify} ..."""
    parser = argparse.ArgumentParser(prog="finwatch-nlp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
