"""`finwatch serve` and `finwatch jobs`: crawls, digests and housekeeping on schedule.

Why a persistent job store: a restart (deploy, crash, reboot) must neither lose a pending run
nor reset every site's clock. Jobs have stable ids (`crawl:<site>`, `digests:weekly`,
`housekeeping`); each start re-syncs them from the sites file: a job whose schedule did not
change keeps its next run time, a changed one is replaced, a removed site's job is removed.

Policies (job defaults, explicit):
- coalesce=True: runs missed while the service was down or busy collapse into one run.
- max_instances=1: a run that comes due while the previous run of the same job is still going
  is skipped (APScheduler logs it); crawls also hold a per-site lock (monitor/jobs.py).
- misfire_grace_time=None: a missed run is still made, however late, once the service is back
  (a late crawl is better than none; coalesce keeps it to one run).

One `finwatch serve` per job store: APScheduler 3 does not share a job store between running
schedulers, so serve takes a lock and refuses to start twice on the same store on one host.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import make_url

from monitor import jobs
from monitor.config import CONFIG_DIR, load_sites

log = logging.getLogger(__name__)

JOB_DEFAULTS: dict[str, Any] = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
# Threads that wait for jobs; each crawl is a child process (Chromium crawls take ~450 MB).
MAX_PARALLEL_JOBS = 3
DIGESTS_JOB = "digests:weekly"
HOUSEKEEPING_JOB = "housekeeping"
# The digest service sends last week's digests once (its ledger makes repeats no-ops); asking
# hourly rather than weekly catches a missed hour and retries a failed send.
DIGESTS_TRIGGER = {"cron": "7 * * * *"}
HOUSEKEEPING_TRIGGER = {"every_minutes": 15}

_CRON_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def crawl_job_id(site_id: str) -> str:
    return f"crawl:{site_id}"


def _cron_day(token: str) -> int:
    token = token.strip().lower()
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    if token[:3] in _CRON_DAYS:
        return _CRON_DAYS.index(token[:3])
    raise ValueError(f"bad day of week {token!r}")


def crontab_day_of_week(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) as APScheduler 3 day names.

    Why: APScheduler 3 numbers days from Monday = 0, so "1-5" would mean Tuesday to Saturday;
    day names are unambiguous.
    """
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, last = span.split("-", 1)
            low, high = _cron_day(first), _cron_day(last)
            high = 7 if high == 0 and low > 0 else high
        else:
            low = high = _cron_day(span)
            high = 6 if step else high
        if low > high:
            raise ValueError(f"bad day-of-week range {span!r}")
        days.update(day % 7 for day in range(low, high + 1, int(step) if step else 1))
    return ",".join(_CRON_DAYS[day] for day in sorted(days))


def trigger_for(schedule: dict[str, Any], timezone: tzinfo | str | None = None) -> BaseTrigger:
    """The trigger for a sites-file schedule: {every_minutes: N} or {cron: "m h dom mon dow"}."""
    if "every_minutes" in schedule:
        return IntervalTrigger(minutes=int(schedule["every_minutes"]), timezone=timezone)
    if "cron" in schedule:
        fields = schedule["cron"].split()
        if len(fields) != 5:
            raise ValueError(f"cron {schedule['cron']!r}: expected 5 fields")
        minute, hour, day, month, dow = fields
        return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                           day_of_week=crontab_day_of_week(dow), timezone=timezone)
    raise ValueError(f"schedule {schedule!r}: expected every_minutes or cron")


def _ensure_sqlite_folder(url: str) -> None:
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


class Scheduler(BackgroundScheduler):
    """A BackgroundScheduler that processes no job once shut down.

    Why: APScheduler 3's loop runs _process_jobs once more after shutdown(); a job due at that
    moment fails to reach the stopped executor and is moved to its next run time anyway, so it
    is silently skipped. That would hit serve's shutdown and every `finwatch jobs` (a paused
    scheduler started and shut down) while a run is due.
    """

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


def build_scheduler(url: str | None = None) -> Scheduler:
    """A scheduler on the persistent job store at `url` (default: jobs.scheduler_url())."""
    url = url or jobs.scheduler_url()
    _ensure_sqlite_folder(url)
    return Scheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url)},
        executors={"default": ThreadPoolExecutor(MAX_PARALLEL_JOBS)},
        job_defaults=JOB_DEFAULTS)


def _same_schedule(old: BaseTrigger, new: BaseTrigger) -> bool:
    return (type(old) is type(new) and str(old) == str(new)
            and str(getattr(old, "timezone", "")) == str(getattr(new, "timezone", "")))


def _put_job(scheduler: BackgroundScheduler, job_id: str, func: Callable[..., Any],
             trigger: BaseTrigger, args: tuple[Any, ...], name: str, run_now: bool) -> None:
    """Add or update one job; an unchanged schedule keeps its next run time."""
    options: dict[str, Any] = {"func": func, "args": args, "name": name, **JOB_DEFAULTS}
    old = scheduler.get_job(job_id)
    if old is not None and not run_now and _same_schedule(old.trigger, trigger):
        scheduler.modify_job(job_id, **options)
        return
    extra = {"next_run_time": datetime.now(scheduler.timezone)} if run_now else {}
    scheduler.add_job(id=job_id, trigger=trigger, replace_existing=True, **options, **extra)
    log.info("job %s: scheduled %s", job_id, trigger)


def sync_jobs(scheduler: BackgroundScheduler, sites_file: Path, run_now: bool = False) -> None:
    """Make the job store match the sites file (the scheduler must be started, e.g. paused).

    Idempotent: syncing twice leaves one job per site. `run_now`: each crawl's next run is now.
    """
    parsed = load_sites(sites_file)
    for problem in parsed.errors:
        log.error("%s", problem)
    sites_arg = str(Path(sites_file).resolve())
    wanted: set[str] = set()
    tz = scheduler.timezone
    for site in parsed.sites:
        try:
            trigger = trigger_for(site.schedule, tz)
        except ValueError as exc:
            log.error("%s: site %s: schedule %s: %s; not scheduled", sites_file, site.id,
                      site.schedule, exc)
            continue
        job_id = crawl_job_id(site.id)
        wanted.add(job_id)
        _put_job(scheduler, job_id, jobs.crawl_site, trigger, (site.id, sites_arg),
                 f"crawl {site.id} ({site.name})", run_now)
    _put_job(scheduler, DIGESTS_JOB, jobs.send_digests, trigger_for(DIGESTS_TRIGGER, tz), (),
             "weekly digests (those due)", False)
    _put_job(scheduler, HOUSEKEEPING_JOB, jobs.housekeeping, trigger_for(HOUSEKEEPING_TRIGGER, tz),
             (), "housekeeping: spool replay", False)
    for job in scheduler.get_jobs():
        if job.id.startswith("crawl:") and job.id not in wanted:
            scheduler.remove_job(job.id)
            log.info("job %s: removed (site no longer configured)", job.id)


def list_jobs(url: str | None = None) -> list[Job]:
    """Jobs in the store, soonest first; reads only, whether or not serve is running."""
    scheduler = build_scheduler(url)
    scheduler.start(paused=True)
    try:
        return scheduler.get_jobs()
    finally:
        scheduler.shutdown(wait=False)


def serve(sites_file: Path, run_now: bool = False, url: str | None = None) -> int:
    """Run the jobs until SIGTERM or SIGINT, then stop running crawls and exit cleanly."""
    url = url or jobs.scheduler_url()
    _ensure_sqlite_folder(url)
    with jobs.lock_file("serve", url) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.error("another finwatch serve already runs on job store %s",
                      make_url(url).render_as_string(hide_password=True))
            return 1
        stop: list[int] = []

        def on_signal(signum: int, _frame: object) -> None:
            stop.append(signum)  # only a flag: locks are unsafe in a signal handler

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, on_signal)
        scheduler = build_scheduler(url)
        scheduler.start(paused=True)
        try:
            sync_jobs(scheduler, sites_file, run_now)
        except Exception:
            scheduler.shutdown(wait=False)
            raise
        scheduler.resume()
        log.info("finwatch serve: running %d job(s) from %s; store %s",
                 len(scheduler.get_jobs()), sites_file,
                 make_url(url).render_as_string(hide_password=True))
        while not stop:
            time.sleep(0.5)
        log.info("finwatch serve: %s received, stopping running crawls and shutting down",
                 signal.Signals(stop[0]).name)
        jobs.stop_running_crawls()
        scheduler.shutdown(wait=True)
        _due_at_next_start(url, [crawl_job_id(site) for site in jobs.interrupted_sites()])
        log.info("finwatch serve: stopped cleanly")
        return 0


def _due_at_next_start(url: str, job_ids: list[str]) -> None:
    """Crawls the shutdown interrupted run first thing at the next start, not a period later.

    (APScheduler moved their next run time on when it started them.)
    """
    if not job_ids:
        return
    scheduler = build_scheduler(url)
    scheduler.start(paused=True)
    try:
        now = datetime.now(scheduler.timezone)
        for job_id in job_ids:
            if scheduler.get_job(job_id) is not None:
                scheduler.modify_job(job_id, next_run_time=now)
    finally:
        scheduler.shutdown(wait=False)
    log.info("finwatch serve: interrupted crawls run at the next start: %s", ", ".join(job_ids))


def _describe(job: Job) -> dict[str, str]:
    next_run = job.next_run_time.isoformat() if job.next_run_time else "paused"
    return {"id": job.id, "trigger": str(job.trigger), "next_run_time": next_run}


def _cmd_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(args.sites, args.run_now)


def _cmd_jobs(args: argparse.Namespace) -> int:
    found = [_describe(job) for job in list_jobs()]
    for row in found:
        print(json.dumps(row) if args.json
              else f"{row['id']:<32} {row['next_run_time']:<34} {row['trigger']}")
    if not found and not args.json:
        print("no jobs (has `finwatch serve` run on this job store?)")
    return 0


def _cmd_spool(args: argparse.Namespace) -> int:
    from monitor.spool import Spool
    from monitor.store import Store, StoreUnavailable

    spool = Spool.default()
    if args.action == "status":
        print(jobs.spool_status(spool))
        return 0
    try:
        store = Store.from_env(args.index_prefix)
        store.ensure_templates()
        replayed = spool.replay(store)
    except StoreUnavailable as exc:
        print(f"error: {exc}; the spool is unchanged", file=sys.stderr)
        return 1
    left = len(spool)
    print(f"replayed {replayed} record(s); {left} kept in {spool.path}")
    return 1 if left else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `serve`, `jobs` and `spool` to the finwatch command."""
    p = sub.add_parser("serve", help="run crawls, digests and housekeeping on schedule")
    p.add_argument("--sites", type=Path, default=CONFIG_DIR / "sites.yaml",
                   help="sites file (YAML) with each site's schedule")
    p.add_argument("--run-now", action="store_true", help="each site's first crawl is now")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("jobs", help="list scheduled jobs with their next run times")
    p.add_argument("--json", action="store_true", help="one JSON object per job")
    p.set_defaults(func=_cmd_jobs)

    p = sub.add_parser("spool", help="show or replay records kept while Elasticsearch was down")
    p.add_argument("action", choices=["status", "replay"])
    p.add_argument("--index-prefix", default=None,
                   help="index name prefix (default: $FINWATCH_INDEX_PREFIX or 'finwatch')")
    p.set_defaults(func=_cmd_spool)
