"""The functions `finwatch serve` runs on schedule: a site's crawl, the digests, housekeeping.

Why module-level functions: the persistent job store pickles a job's function by reference
(`monitor.jobs:crawl_site`), so they must stay importable under these names.
Why a child process per crawl: Twisted's reactor cannot restart inside one process (see
crawler/run.py), and a crash or leak in one crawl must not take the service down.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from monitor.config import REPO_ROOT

if TYPE_CHECKING:
    from monitor.spool import Spool

log = logging.getLogger(__name__)

# A crawl still running after this long, or when the service stops, is stopped (see _wait).
# STOP_GRACE_S covers crawler/settings.py's 30 s DOWNLOAD_TIMEOUT of the requests in flight;
# a service manager should allow serve about a minute to stop.
CRAWL_TIMEOUT_S = 2 * 3600
STOP_GRACE_S = 40
FORCE_GRACE_S = 10
DIGEST_SERVICE = "monitor.digest.service"  # its send_due_digests(now) sends what is due

_stopping = threading.Event()
_interrupted: set[str] = set()  # sites whose crawl the shutdown stopped or did not start


def scheduler_url() -> str:
    """The job store's database: $FINWATCH_SCHEDULER_DB, default SQLite under var/."""
    default = f"sqlite:///{REPO_ROOT / 'var' / 'scheduler.sqlite'}"
    return os.environ.get("FINWATCH_SCHEDULER_DB") or default


def lock_file(name: str, store_url: str | None = None) -> IO[str]:
    """An open lock file private to one job store, so two deployments never block each other.

    Next to a SQLite store (`<db>.locks/`), else under var/locks/<hash of the store URL>/.
    """
    url = store_url or scheduler_url()
    database = url.split(":///", 1)[1] if url.startswith("sqlite:///") else ""
    if database and database != ":memory:":
        folder = Path(database).with_name(Path(database).name + ".locks")
    else:
        folder = REPO_ROOT / "var" / "locks" / hashlib.sha256(url.encode()).hexdigest()[:12]
    folder.mkdir(parents=True, exist_ok=True)
    return open(folder / f"{name}.lock", "a")  # noqa: SIM115 - the caller holds it open


def crawl_site(site_id: str, sites_file: str, timeout_s: float = CRAWL_TIMEOUT_S) -> int:
    """Crawl one site in a child `finwatch crawl`; log its summary line and exit code.

    Overlap: besides max_instances=1 inside one scheduler, a per-site flock is held by this
    thread and inherited by the child, so a crawl orphaned by a killed service still blocks a
    second crawl of the same site after a restart. Returns the child's exit code (-1: skipped).
    """
    if _stopping.is_set():
        log.warning("crawl %s: not started, the service is shutting down", site_id)
        _interrupted.add(site_id)
        return -1
    with lock_file(f"crawl-{site_id}") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("crawl %s: skipped, the previous crawl of this site is still running",
                        site_id)
            return -1
        command = [sys.executable, "-m", "monitor.cli", "crawl", "--sites", sites_file,
                   "--site", site_id]
        log.info("crawl %s: started", site_id)
        child = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, pass_fds=(lock.fileno(),),
                                 start_new_session=True)
        out, err, timed_out = _wait(child, timeout_s)
    _log_outcome(site_id, child.returncode, out, err, timed_out)
    return child.returncode


def _wait(child: subprocess.Popen[str], timeout_s: float) -> tuple[str, str, bool]:
    """Wait for the child; past its timeout or on shutdown, stop it in three steps.

    SIGTERM: Scrapy stops gracefully (in-flight requests end, pipelines flush); after
    STOP_GRACE_S a second SIGTERM (Scrapy stops at once); FORCE_GRACE_S later SIGKILL.
    Returns stdout, stderr and whether the timeout stopped it.
    """
    deadline = time.monotonic() + timeout_s
    steps = iter([(child.terminate, STOP_GRACE_S), (child.terminate, FORCE_GRACE_S),
                  (child.kill, 0.0)])
    next_step: float | None = None
    timed_out = False
    while True:
        try:
            out, err = child.communicate(timeout=1)  # retrying loses no output
            return out, err, timed_out
        except subprocess.TimeoutExpired:
            now = time.monotonic()
            if next_step is None and (now >= deadline or _stopping.is_set()):
                timed_out, next_step = now >= deadline, now
            if next_step is not None and now >= next_step:
                send, wait_s = next(steps, (child.kill, 1.0))
                send()
                next_step = now + wait_s


def _log_outcome(site_id: str, code: int, out: str, err: str, timed_out: bool) -> None:
    summary = next((line for line in reversed(out.splitlines())
                    if line.startswith("crawl finished")), "no summary line")
    if _stopping.is_set():
        log.warning("crawl %s: stopped by shutdown, exit code %s: %s", site_id, code, summary)
        _interrupted.add(site_id)
    elif code == 0 and not timed_out:
        log.info("crawl %s: exit code 0: %s", site_id, summary)
    else:
        why = "timed out and was stopped" if timed_out else "failed"
        log.error("crawl %s: %s, exit code %s: %s\n%s", site_id, why, code, summary,
                  err[-3000:])


def stop_running_crawls() -> None:
    """Start no new crawl; each running one gets SIGTERM within a second (see _wait)."""
    _stopping.set()


def interrupted_sites() -> list[str]:
    """Sites whose crawl the shutdown stopped or kept from starting."""
    return sorted(_interrupted)


def send_digests() -> None:
    """Send last week's digests not sent yet; the digest ledger makes repeated calls no-ops."""
    try:
        service = importlib.import_module(DIGEST_SERVICE)
    except ImportError as exc:
        if exc.name not in ("monitor.digest", DIGEST_SERVICE):
            raise
        log.warning("digests: not available yet (no %s); nothing sent", DIGEST_SERVICE)
        return
    results = service.send_due_digests(datetime.now().astimezone())
    outcomes = Counter(getattr(r, "status", "?") for r in results or ())
    level = logging.ERROR if outcomes.get("failed") else logging.INFO
    log.log(level, "digests: %s", ", ".join(f"{n} {s}" for s, n in sorted(outcomes.items()))
            or "no unit")


def housekeeping() -> None:
    """Replay the spool into Elasticsearch, so records kept during an outage arrive."""
    from monitor.spool import Spool
    from monitor.store import Store, StoreUnavailable

    spool = Spool.default()
    if not spool.path.exists():
        log.info("housekeeping: spool %s is empty", spool.path)
        return
    try:
        store = Store.from_env()
        store.ensure_templates()
        replayed = spool.replay(store)
    except StoreUnavailable as exc:
        log.warning("housekeeping: %d record(s) stay in spool %s: %s", len(spool),
                    spool.path, exc)
        return
    left = len(spool)
    level = logging.ERROR if left else logging.INFO
    log.log(level, "housekeeping: replayed %d spooled record(s), %d kept in %s",
            replayed, left, spool.path)


def spool_status(spool: Spool) -> str:
    """One line: where the spool is and how many records of each kind wait in it."""
    kinds = Counter(r.get("kind", "?") for r in spool.read())
    detail = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items()))
    return f"{spool.path}: {sum(kinds.values())} record(s)" + (f" ({detail})" if detail else "")
