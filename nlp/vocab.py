"""The label vocabulary, read from config/labels.yaml at run time (the single source of truth)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from nlp.paths import CONFIG_DIR


@dataclass(frozen=True)
class Vocabulary:
    """Codes in config order plus the Chinese names users read."""

    verdicts: tuple[str, ...]
    sectors: tuple[str, ...]
    violations: tuple[str, ...]
    zh: dict[str, dict[str, str]]

    def violation_zh(self, code: str) -> str:
        """Chinese name of a violation code (user-facing text comes from config, never code)."""
        return self.zh["violations"][code]


def _load(path: Path) -> Vocabulary:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    zh = {
        section: {code: str(v.get("zh", code)) for code, v in raw[section].items()}
        for section in ("verdicts", "sectors", "violations")
    }
    return Vocabulary(
        verdicts=tuple(raw["verdicts"]),
        sectors=tuple(raw["sectors"]),
        violations=tuple(raw["violations"]),
        zh=zh,
    )


@lru_cache(maxsize=4)
def load_vocabulary(path: str | None = None) -> Vocabulary:
    """Load (and cache) the vocabulary; `path` defaults to config/labels.yaml."""
    return _load(Path(path) if path else CONFIG_DIR / "labels.yaml")
