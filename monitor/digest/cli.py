"""`finwatch digest`: write (--dry-run) or send (--send) the weekly digest of one or all units."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from monitor.config import REPO_ROOT


def _cmd_digest(args: argparse.Namespace) -> int:
    from monitor import mailer
    from monitor.digest.service import DigestResult, build, send_digest, write_dry_run
    from monitor.digest.week import Week
    from monitor.routing import Router
    from monitor.store import Store, StoreUnavailable

    router = Router.from_file()
    now = datetime.now(UTC)
    try:
        week = Week.parse(args.week) if args.week else Week.containing(now).previous()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    units = args.unit or list(router.unit_names)
    unknown = [u for u in units if u not in router.unit_names]
    if unknown:
        print(f"error: unknown unit(s) {', '.join(unknown)}; known: "
              f"{', '.join(router.unit_names)}", file=sys.stderr)
        return 2
    failed = False
    try:
        store = Store.from_env(args.index_prefix)
        if args.send:
            settings = mailer.SmtpSettings.from_env()
        for unit in units:
            if args.dry_run:
                sender = os.environ.get("FINWATCH_SMTP_FROM", "finwatch@localhost")
                rendered = build(store, router, unit, week, sender=sender, now=now)
                paths = write_dry_run(rendered, Path(args.out))
                result = DigestResult(unit, week.label, "written", str(paths[1]))
            else:
                result = send_digest(store, router, unit, week, settings=settings, now=now)
            failed |= result.status == "failed"
            print(result.line(), file=sys.stderr if result.status == "failed" else sys.stdout)
    except (StoreUnavailable, mailer.MailError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("digest", help="weekly e-mail digest per unit (dry run or send)")
    p.add_argument("--unit", action="append",
                   help="unit code from config/units.yaml (repeatable; default: every unit)")
    p.add_argument("--week", help="ISO week, e.g. 2026-W48 (default: last week)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true",
                      help="write the .eml and an HTML preview to --out instead of sending")
    mode.add_argument("--send", action="store_true",
                      help="send over SMTP (FINWATCH_SMTP_*), once per unit and week")
    p.add_argument("--out", default=str(REPO_ROOT / "var" / "digests"),
                   help="dry-run output folder (default: var/digests)")
    p.add_argument("--index-prefix", default=None,
                   help="index name prefix (default: $FINWATCH_INDEX_PREFIX or 'finwatch')")
    p.set_defaults(func=_cmd_digest)
