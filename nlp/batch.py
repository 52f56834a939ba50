"""The batch classification contract: JSON lines in, the same objects plus labels out.

Each output line is the input object plus `verdict`, `sector`, `violations`, `risk_score` and
`evidence`; a line without usable text (or not a JSON object) gets an `error` field instead, and
the rest of the batch goes on. Lines are classified in chunks so the model can vectorise.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from nlp.classifier import Classifier, check_text
from nlp.result import InvalidTextError

CHUNK = 1024


@dataclass
class BatchStats:
    """Counts for the command's summary line."""

    total: int = 0
    classified: int = 0
    errors: int = 0


def _parse(line: str) -> tuple[dict[str, Any], str | None]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return {}, f"invalid JSON: {exc.msg}"
    if not isinstance(obj, dict):
        return {}, "line is not a JSON object"
    if "text" not in obj:
        return obj, "missing required field 'text'"
    try:
        check_text(obj["text"])
    except InvalidTextError as exc:
        return obj, str(exc)
    return obj, None


def classify_records(
    clf: Classifier, lines: Iterable[str], stats: BatchStats | None = None
) -> Iterator[dict[str, Any]]:
    """Yield one output object per non-blank input line, in input order."""
    stats = stats if stats is not None else BatchStats()
    pending: list[tuple[dict[str, Any], str | None]] = []

    def flush() -> Iterator[dict[str, Any]]:
        ok = [obj for obj, err in pending if err is None]
        titles = [t if isinstance(t := obj.get("title"), str) else None for obj in ok]
        results = iter(clf.classify_many([obj["text"] for obj in ok], titles) if ok else [])
        for obj, err in pending:
            if err is None:
                stats.classified += 1
                yield {**obj, **next(results).to_dict()}
            else:
                stats.errors += 1
                yield {**obj, "error": err}
        pending.clear()

    for line in lines:
        if not line.strip():
            continue
        stats.total += 1
        pending.append(_parse(line))
        if len(pending) >= CHUNK:
            yield from flush()
    yield from flush()


def classify_stream(clf: Classifier, src: IO[str], dst: IO[str]) -> BatchStats:
    """Read JSON lines from `src`, write classified JSON lines to `dst`."""
    stats = BatchStats()
    for out in classify_records(clf, src, stats):
        line = json.dumps(out, ensure_ascii=False)
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from \ud800 escapes: keep them escaped
            line = json.dumps(out)
        dst.write(line + "\n")
    return stats
