"""A durable on-disk spool for documents and alerts Elasticsearch could not take.

Why: an alert is evidence of a possible illegal fundraising case; an outage must delay it,
never lose it. Records are appended as JSON lines and fsynced; replay writes them back in order
and empties the spool only after every record was accepted.

Concurrency: a crawl may append while housekeeping replays. Both hold an exclusive flock on the
file, and replay replaces or removes the file only while holding it; an appender that then gets
the lock on a replaced file notices (its inode is no longer the path's) and reopens, so no
record is written into a file that is gone.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from monitor.config import REPO_ROOT

if TYPE_CHECKING:
    from monitor.store import Store

log = logging.getLogger(__name__)


class Spool:
    """Append-only JSON lines, one record each: {"kind": "docs"|"alerts", "body": {...}}."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def default(cls) -> Spool:
        folder = Path(os.environ.get("FINWATCH_SPOOL_DIR", REPO_ROOT / "var" / "spool"))
        return cls(folder / "pending.jsonl")

    @contextmanager
    def _locked(self, mode: str) -> Iterator[IO[str]]:
        """The spool file opened and exclusively locked, and still the file at self.path."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(self.path, mode, encoding="utf-8")  # noqa: SIM115 - closed below
            try:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    current = os.stat(self.path).st_ino
                except FileNotFoundError:
                    current = None
                if current == os.fstat(handle.fileno()).st_ino:
                    yield handle
                    return
            finally:
                handle.close()

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        with self._locked("a") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            return [json.loads(line) for line in handle if line.strip()]

    def __len__(self) -> int:
        return len(self.read())

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def replay(self, store: Store) -> int:
        """Write every spooled record to Elasticsearch, in order; return how many were accepted.

        The file is removed only when every record was accepted. Records Elasticsearch rejected
        (and lines that are not valid JSON) stay in the spool, in their order, for the next
        replay. Raises StoreUnavailable, leaving the spool untouched, when the cluster is down.
        """
        if not self.path.exists():
            return 0
        with self._locked("a+") as handle:
            handle.seek(0)
            lines = [line for line in handle.read().splitlines() if line.strip()]
            entries: list[tuple[str, dict[str, Any] | None]] = []
            for line in lines:
                try:
                    entries.append((line, _action(store, json.loads(line))))
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("spool %s: unreadable record kept: %s", self.path, exc)
                    entries.append((line, None))
            outcome = store.bulk(action for _, action in entries if action is not None)
            for failure in outcome.failed:
                log.error("replay: Elasticsearch rejected %s", failure)
            failed = {_failed_key(item) for item in outcome.failed}
            kept = [line for line, action in entries
                    if action is None or (action["_index"], action["_id"]) in failed]
            if kept:
                self._rewrite(kept)
            else:
                self.path.unlink()
            return len(entries) - len(kept)

    def _rewrite(self, lines: list[str]) -> None:
        """Atomically replace the spool with `lines` (caller holds the lock)."""
        tmp = self.path.with_name(self.path.name + ".replay")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in lines))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)


def _action(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    """The bulk action for one spooled record; Store.action knows every kind where it exists."""
    generic = getattr(store, "action", None)
    if generic is not None:
        return generic(record["kind"], record["body"])
    if record["kind"] == "alerts":
        return store.alert_action(record["body"])
    if record["kind"] == "docs":
        return store.doc_action(record["body"])
    raise ValueError(f"unknown record kind {record['kind']!r}")


def _failed_key(item: dict[str, Any]) -> tuple[str, str]:
    """(index, id) of a failed bulk item, shaped {op_type: {"_index": ..., "_id": ...}}."""
    info = next(iter(item.values()))
    return info.get("_index", ""), info.get("_id", "")
