"""The sent-digest ledger in `<prefix>-digests`: what makes sending a digest happen once.

Why a claim before sending: the scheduler may retry, restart, or run twice. The record
`<unit>:<week>` is created with op_type=create (only one writer wins) as `sending`, then set to
`sent` or `failed`. A `sent` record is never sent again; a `failed` one may be retried; a
`sending` one older than `stale_after` (a process died mid-send) may be taken over, with
optimistic concurrency (if_seq_no) so two takers cannot both win. Residual risk: a crash after
the relay accepted the mail and before `sent` is written re-sends it once after `stale_after`;
the stable Message-ID lets mail systems recognise it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from elasticsearch import ApiError, ConflictError, NotFoundError, TransportError

from monitor.store import Store, StoreUnavailable

KIND = "digests"


@dataclass(frozen=True)
class Claim:
    doc_id: str
    seq_no: int
    primary_term: int
    attempts: int


class DigestLedger:
    def __init__(self, store: Store, stale_after: timedelta = timedelta(minutes=30)) -> None:
        self.store = store
        self.index = store.index(KIND)
        self.stale_after = stale_after
        store.ensure_index(KIND)

    def get(self, doc_id: str) -> dict[str, Any] | None:
        try:
            return self.store.client.get(index=self.index, id=doc_id)["_source"]
        except NotFoundError:
            return None

    def claim(self, unit: str, week: str, now: datetime) -> tuple[Claim | None, str]:
        """(claim, "") when this process may send; (None, status) when it must not."""
        doc_id = f"{unit}:{week}"
        record = {"digest_id": doc_id, "unit": unit, "week": week, "status": "sending",
                  "attempts": 1, "claimed_at": now.isoformat()}
        client = self.store.client
        try:
            try:
                resp = client.index(index=self.index, id=doc_id, document=record,
                                    op_type="create")
                return Claim(doc_id, resp["_seq_no"], resp["_primary_term"], 1), ""
            except ConflictError:
                pass
            current = client.get(index=self.index, id=doc_id)
            src = current["_source"]
            if src["status"] == "sent":
                return None, "sent"
            claimed = datetime.fromisoformat(src["claimed_at"])
            if src["status"] == "sending" and now - claimed < self.stale_after:
                return None, "sending"
            attempts = int(src.get("attempts", 0)) + 1
            try:
                resp = client.index(index=self.index, id=doc_id,
                                    document=record | {"attempts": attempts},
                                    if_seq_no=current["_seq_no"],
                                    if_primary_term=current["_primary_term"])
            except ConflictError:
                return None, "sending"
            return Claim(doc_id, resp["_seq_no"], resp["_primary_term"], attempts), ""
        except (TransportError, ApiError) as exc:
            raise StoreUnavailable(f"digest ledger {self.index}: {exc}") from exc

    def _finish(self, claim: Claim, fields: dict[str, Any]) -> None:
        try:
            self.store.client.update(index=self.index, id=claim.doc_id, doc=fields,
                                     if_seq_no=claim.seq_no, if_primary_term=claim.primary_term)
        except (TransportError, ApiError) as exc:
            raise StoreUnavailable(f"digest ledger {self.index}: {exc}") from exc

    def mark_sent(self, claim: Claim, now: datetime, **fields: Any) -> None:
        self._finish(claim, {"status": "sent", "sent_at": now.isoformat(), "error": None,
                             **fields})

    def mark_failed(self, claim: Claim, now: datetime, error: str) -> None:
        self._finish(claim, {"status": "failed", "failed_at": now.isoformat(), "error": error})
