"""`finwatch`: the one command-line entry point, with a subcommand per job."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from monitor.config import CONFIG_DIR, ConfigError

Handler = Callable[[argparse.Namespace], int]


def _cmd_es(args: argparse.Namespace) -> int:
    from monitor import es_local

    return es_local.run_action(args.action)


def _cmd_demo_sites(args: argparse.Namespace) -> int:
    from monitor import demo_server

    return demo_server.main(["--sites", str(args.sites)])


def _cmd_crawl(args: argparse.Namespace) -> int:
    from crawler.run import run_crawl

    try:
        stats = run_crawl(args.sites, args.site or None, args.index_prefix, args.run_id)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _print_crawl_stats(stats)


def _print_crawl_stats(stats: dict) -> int:
    pages = sum(v for k, v in stats.items() if k.startswith("finwatch/pages/"))
    alerts = sum(v for k, v in stats.items() if k.startswith("finwatch/alerts/"))
    errors = sum(v for k, v in stats.items() if k.startswith("finwatch/fetch_errors/"))
    print(f"crawl finished: {pages} pages, {alerts} alerts, {errors} fetch errors, "
          f"{stats.get('finwatch/encoding_repaired', 0)} charset repairs, "
          f"{stats.get('finwatch/indexed', 0)} records indexed, "
          f"{stats.get('finwatch/spooled', 0)} spooled")
    return 1 if stats.get("finwatch/spooled") else 0


def _cmd_search(args: argparse.Namespace) -> int:
    from monitor.report import format_alert
    from monitor.routing import Router
    from monitor.store import Store, StoreUnavailable
    from nlp.segment import segment_words

    try:
        store = Store.from_env(args.index_prefix)
        hits = store.search_alerts(
            args.query, segment_words(args.query), size=args.limit,
            filters={"units": args.unit, "sector": args.sector, "verdict": args.verdict,
                     "site": args.site, "violations": args.violation})
    except StoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        for hit in hits:
            print(json.dumps(hit, ensure_ascii=False))
        return 0
    names = Router.from_file().unit_names
    print(f"{len(hits)} alert(s) for {args.query!r}")
    for hit in hits:
        print(format_alert(hit, names))
    return 0


def _cmd_evidence(args: argparse.Namespace) -> int:
    from elasticsearch import NotFoundError

    from monitor.evidence import verify
    from monitor.store import Store, StoreUnavailable

    try:
        store = Store.from_env(args.index_prefix)
        alert = store.client.get(index=store.alerts_index, id=args.alert_id)["_source"]
    except NotFoundError:
        print(f"error: no alert {args.alert_id!r} in {args.index_prefix or 'finwatch'}-alerts",
              file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    files = alert.get("evidence_files")
    if not files:
        print(f"error: alert {args.alert_id} has no evidence files recorded", file=sys.stderr)
        return 1
    print(f"alert {args.alert_id}: {alert.get('url')}")
    print(f"fetched at {files.get('fetched_at')}, captured at {files.get('captured_at')}")
    checks = verify(files)
    for check in checks:
        print(f"  {check.what:<4} {'OK  ' if check.ok else 'FAIL'} {check.path or '-'}"
              f"\n       {check.detail}")
    return 0 if all(c.ok for c in checks) else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    return run_demo(args.sites, args.index_prefix)


def _cmd_config_check(args: argparse.Namespace) -> int:
    from monitor.config import labels, load_sites
    from monitor.routing import Router

    problems: list[str] = []
    try:
        parsed = load_sites(args.sites)
        problems += parsed.errors
        print(f"{args.sites}: {len(parsed.sites)} site(s) valid")
    except ConfigError as exc:
        problems.append(str(exc))
    for check in (lambda: labels(), lambda: Router.from_file()):
        try:
            check()
        except ConfigError as exc:
            problems.append(str(exc))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finwatch",
        description="Watch local websites for illegal internet-finance promotion "
                    "(互联网金融风险专项整治) and route alerts to district units.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    default_sites = CONFIG_DIR / "sites.yaml"
    prefix_help = "index name prefix (default: $FINWATCH_INDEX_PREFIX or 'finwatch')"

    p = sub.add_parser("es", help="start, stop or check the local Elasticsearch node")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.set_defaults(func=_cmd_es)

    p = sub.add_parser("demo", help="start everything and crawl the bundled demo sites")
    p.add_argument("--sites", type=Path, default=default_sites)
    p.add_argument("--index-prefix", default=os.environ.get("FINWATCH_INDEX_PREFIX"),
                   help=prefix_help)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("demo-sites", help="serve the bundled demo sites on loopback")
    p.add_argument("action", choices=["serve"])
    p.add_argument("--sites", type=Path, default=default_sites)
    p.set_defaults(func=_cmd_demo_sites)

    p = sub.add_parser("crawl", help="crawl the configured sites once, classify and index")
    p.add_argument("--sites", type=Path, default=default_sites, help="sites file (YAML)")
    p.add_argument("--site", action="append", help="only this site id (repeatable)")
    p.add_argument("--index-prefix", default=None, help=prefix_help)
    p.add_argument("--run-id", default=None,
                   help="join the distributed run RUN_ID: its frontier and dupefilter are shared "
                        "in Redis at $FINWATCH_REDIS_URL by every worker given the same id")
    p.set_defaults(func=_cmd_crawl)

    p = sub.add_parser("search", help="search alerts in Elasticsearch (Chinese words or phrases)")
    p.add_argument("query", nargs="?", default="", help="e.g. 保本保息; empty: all alerts")
    p.add_argument("--unit", help="unit code, e.g. scjgj")
    p.add_argument("--sector")
    p.add_argument("--verdict")
    p.add_argument("--violation")
    p.add_argument("--site")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true", help="one JSON alert per line")
    p.add_argument("--index-prefix", default=None, help=prefix_help)
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser("evidence", help="show an alert's evidence files and verify their hashes")
    p.add_argument("alert_id")
    p.add_argument("--index-prefix", default=None, help=prefix_help)
    p.set_defaults(func=_cmd_evidence)

    p = sub.add_parser("config", help="validate configuration files")
    p.add_argument("action", choices=["check"])
    p.add_argument("--sites", type=Path, default=default_sites)
    p.set_defaults(func=_cmd_config_check)

    from monitor import kibana
    from monitor.digest import cli as digest_cli

    digest_cli.register(sub)
    kibana.register(sub)

    try:
        from nlp.cli import register
    except ImportError:  # the classifier's commands are optional until nlp ships them
        pass
    else:
        register(sub)
    from monitor.scheduler import register as register_service

    register_service(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
