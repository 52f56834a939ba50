"""Loading the labelled set, the plan examples, label corrections and the raw SMS corpus.

Also the near-duplicate grouping used by cross-validation: SMS templates repeat with other
numbers, so messages that are near-copies must share a fold or the scores flatter the model.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nlp.normalize import normalize
from nlp.paths import labeled_path, sms_path

NLP_DATA = Path(__file__).resolve().parent / "data"
PLAN_EXAMPLES = NLP_DATA / "plan_examples.jsonl"
LABEL_CORRECTIONS = NLP_DATA / "label_corrections.jsonl"


@dataclass
class Record:
    """One labelled text."""

    id: str
    text: str
    verdict: str
    sector: str
    violations: list[str] = field(default_factory=list)
    source: str = ""


def read_jsonl(path: Path) -> list[dict]:
    """Parse a JSON-lines file, skipping blank lines."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def file_sha256(path: Path) -> str:
    """Content hash recorded in the model card, so a model names the data it saw."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_records(path: Path | None = None, corrections: bool = True) -> list[Record]:
    """The labelled set, with the corrections in nlp/data/label_corrections.jsonl applied."""
    rows = read_jsonl(path or labeled_path())
    fixes = {}
    if corrections and LABEL_CORRECTIONS.exists():
        fixes = {c["id"]: c for c in read_jsonl(LABEL_CORRECTIONS)}
    out = []
    for r in rows:
        fix = fixes.get(str(r.get("id")))
        if fix:
            r = {**r, **{k: fix[k] for k in ("verdict", "sector", "violations") if k in fix}}
        out.append(
            Record(
                id=str(r.get("id", "")),
                text=r["text"],
                verdict=r["verdict"],
                sector=r["sector"],
                violations=list(r.get("violations") or []),
                source=str(r.get("source", "")),
            )
        )
    return out


def load_plan_examples() -> list[Record]:
    """Examples written from the plan's descriptions (rare sectors and codes); training only."""
    return load_records(PLAN_EXAMPLES, corrections=False) if PLAN_EXAMPLES.exists() else []


def load_sms_texts(exclude: list[str] | None = None, path: Path | None = None) -> list[str]:
    """Raw SMS texts (spam/ham labels ignored) minus near-copies of `exclude` texts.

    Used only as unlabelled text to fit the vocabulary and IDF weights.
    """
    p = path or sms_path()
    if not p.exists():
        return []
    skip = {_template(t) for t in exclude or []}
    out = []
    with p.open(encoding="utf-8") as fh:
        next(fh, None)
        for line in fh:
            parts = line.rstrip("\n").split("\t", 2)
            if len(parts) == 3 and parts[2].strip() and _template(parts[2]) not in skip:
                out.append(parts[2])
    return out


_DIGITS = re.compile(r"[\d#]+")


def _template(text: str) -> str:
    return _DIGITS.sub("0", normalize(text))


def near_duplicate_groups(texts: list[str], threshold: float = 0.5) -> np.ndarray:
    """Group ids joining texts whose digit-blind character-trigram cosine >= threshold."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    templates = [_template(t) for t in texts]
    vec = TfidfVectorizer(analyzer="char", ngram_range=(3, 3), min_df=1, sublinear_tf=True)
    x = vec.fit_transform(templates)
    sim = (x @ x.T).tocoo()
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, v in zip(sim.row, sim.col, sim.data, strict=True):
        if i < j and v >= threshold:
            ri, rj = find(int(i)), find(int(j))
            if ri != rj:
                parent[rj] = ri
    roots = [find(i) for i in range(len(texts))]
    _, groups = np.unique(roots, return_inverse=True)
    return groups
