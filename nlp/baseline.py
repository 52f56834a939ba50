"""The keyword baseline: the plan's 工商统计 word list (restricted_words.yaml) alone.

A text that contains any registry_screening word is flagged `violation` with every violation
code (so per-code recall is simply the share of such texts the screen catches) and the most
common financial sector of the training data; anything else is `other` / `none`. This is what
the plan's registry screen would do if pointed at ad text, and what the model must beat.
"""

from __future__ import annotations

import re
from functools import lru_cache

import yaml

from nlp.normalize import normalize
from nlp.paths import CONFIG_DIR
from nlp.result import ClassificationResult
from nlp.rules import trie_regex
from nlp.rules_config import load_rules_config
from nlp.vocab import load_vocabulary


@lru_cache(maxsize=1)
def _screen() -> re.Pattern[str]:
    raw = yaml.safe_load((CONFIG_DIR / "restricted_words.yaml").read_text(encoding="utf-8"))
    words = [normalize(w) for w in raw["lists"]["registry_screening"]["words"]]
    return re.compile(trie_regex(words))


class KeywordBaseline:
    """Flags any text containing a 工商统计 word."""

    name_version = "keyword-baseline-1"

    def __init__(self, sector: str | None = None) -> None:
        self.sector = sector

    def classify_text(self, text: str, title: str | None = None) -> ClassificationResult:
        """Violation with all codes on a keyword hit, else other."""
        sem = load_rules_config().semantics
        if _screen().search(normalize(text)):
            codes = list(load_vocabulary().violations)
            sector = self.sector or sem["no_sector"]
            return ClassificationResult(sem["violation_verdict"], sector, codes, 1.0, [])
        return ClassificationResult(sem["other_verdict"], sem["no_sector"], [], 0.0, [])
