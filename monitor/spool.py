"""A durable on-disk spool for documents and alerts Elasticsearch could not take.

Why: an alert is evidence of a possible illegal fundraising case; an outage must delay it,
never lose it. Records are appended as JSON lines and fsynced; replay writes them back in order
and empties the spool only after every record was accepted.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from monitor.config import REPO_ROOT


class Spool:
    """Append-only JSON lines, one record each: {"kind": "docs"|"alerts", "body": {...}}."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def default(cls) -> Spool:
        folder = Path(os.environ.get("FINWATCH_SPOOL_DIR", REPO_ROOT / "var" / "spool"))
        return cls(folder / "pending.jsonl")

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def __len__(self) -> int:
        return len(self.read())

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
