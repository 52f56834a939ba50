"""`finwatch serve`: schedules from the sites file, a persistent job store, restart safety.

Job stores are real SQLite files in tmp_path; `finwatch serve` runs as a real process.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import yaml
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor import jobs
from monitor.config import REPO_ROOT
from monitor.scheduler import build_scheduler, list_jobs, sync_jobs, trigger_for

UTC8 = "Asia/Shanghai"


def write_sites(path: Path, schedules: dict[str, dict], start_url: str = "http://127.0.0.1:9/",
                **fields: object) -> Path:
    sites = [{"id": sid, "name": sid, "kind": "platform", "start_urls": [start_url],
              "schedule": schedule, **fields} for sid, schedule in schedules.items()]
    path.write_text(yaml.safe_dump({"version": 1, "sites": sites}), encoding="utf-8")
    return path


def crawl_env(tmp_path: Path, db_url: str) -> dict[str, str]:
    """Settings for crawls the tests start: no real index is written (records go to a tmp
    spool, as Elasticsearch is unreachable), and the job store is the test's own."""
    return {"FINWATCH_SCHEDULER_DB": db_url, "ELASTICSEARCH_URL": "http://127.0.0.1:9",
            "FINWATCH_INDEX_PREFIX": "fwtest-sched", "FINWATCH_SPOOL_DIR": str(tmp_path / "spool"),
            "FINWATCH_EVIDENCE_DIR": str(tmp_path / "evidence")}


@contextmanager
def paused(url: str) -> Iterator[BackgroundScheduler]:
    """A scheduler on the store at `url` that processes no job (like a fresh `serve` start)."""
    scheduler = build_scheduler(url)
    scheduler.start(paused=True)
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.sqlite'}"


def rows(url: str) -> list[str]:
    """Job ids straight from the job store's table, so a duplicate row would show."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return sorted(r[0] for r in db.execute("select id from apscheduler_jobs"))


def test_interval_schedule_becomes_an_interval_trigger() -> None:
    trigger = trigger_for({"every_minutes": 45}, UTC8)
    assert isinstance(trigger, IntervalTrigger)
    assert trigger.interval == timedelta(minutes=45)


def test_cron_schedule_uses_crontab_weekday_numbers() -> None:
    # crontab: 1-5 is Monday to Friday (APScheduler 3 alone would read Tuesday to Saturday)
    trigger = trigger_for({"cron": "30 8 * * 1-5"}, UTC8)
    assert isinstance(trigger, CronTrigger)
    saturday = datetime.fromisoformat("2026-01-03T12:00:00+08:00")
    assert trigger.get_next_fire_time(None, saturday).isoformat() == "2026-01-05T08:30:00+08:00"
    sunday_only = trigger_for({"cron": "0 6 * * 0"}, UTC8)
    assert sunday_only.get_next_fire_time(None, saturday).isoformat() == \
        "2026-01-04T06:00:00+08:00"


def test_sync_creates_a_job_per_site_with_explicit_policies(tmp_path: Path, db_url: str) -> None:
    sites = write_sites(tmp_path / "sites.yaml",
                        {"alpha": {"every_minutes": 30}, "beta": {"cron": "0 3 * * *"}})
    with paused(db_url) as scheduler:
        sync_jobs(scheduler, sites)
        found = {job.id: job for job in scheduler.get_jobs()}
    assert set(found) == {"crawl:alpha", "crawl:beta", "digests:weekly", "housekeeping"}
    assert found["crawl:alpha"].args == ("alpha", str(sites.resolve()))
    assert found["crawl:alpha"].func is jobs.crawl_site
    assert isinstance(found["crawl:beta"].trigger, CronTrigger)
    for job in found.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, None)


def test_resync_after_restart_keeps_one_job_each_and_its_next_run_time(
        tmp_path: Path, db_url: str) -> None:
    sites = write_sites(tmp_path / "sites.yaml", {"alpha": {"every_minutes": 30}})
    with paused(db_url) as scheduler:
        sync_jobs(scheduler, sites)
        before = {job.id: job.next_run_time for job in scheduler.get_jobs()}
    time.sleep(0.05)  # a reset clock would now give a later next run time
    for _ in range(2):
        with paused(db_url) as scheduler:  # a new process on the same store
            sync_jobs(scheduler, sites)
            after = {job.id: job.next_run_time for job in scheduler.get_jobs()}
        assert after == before
    assert rows(db_url) == sorted(before)


def test_changed_schedule_replaces_trigger_and_removed_site_loses_its_job(
        tmp_path: Path, db_url: str) -> None:
    sites = write_sites(tmp_path / "sites.yaml",
                        {"alpha": {"every_minutes": 30}, "beta": {"every_minutes": 30}})
    with paused(db_url) as scheduler:
        sync_jobs(scheduler, sites)
    write_sites(sites, {"alpha": {"every_minutes": 5}})
    with paused(db_url) as scheduler:
        sync_jobs(scheduler, sites)
        found = {job.id: job for job in scheduler.get_jobs()}
    assert "crawl:beta" not in found
    assert found["crawl:alpha"].trigger.interval == timedelta(minutes=5)
    assert rows(db_url) == ["crawl:alpha", "digests:weekly", "housekeeping"]


def test_run_now_makes_each_crawl_due_now(tmp_path: Path, db_url: str) -> None:
    sites = write_sites(tmp_path / "sites.yaml", {"alpha": {"every_minutes": 600}})
    with paused(db_url) as scheduler:
        sync_jobs(scheduler, sites, run_now=True)
        job = scheduler.get_job("crawl:alpha")
        assert job.next_run_time <= datetime.now(job.next_run_time.tzinfo)


def test_listing_jobs_never_runs_or_moves_a_due_job(tmp_path: Path, db_url: str) -> None:
    sites = write_sites(tmp_path / "sites.yaml", {"alpha": {"every_minutes": 600}})
    with paused(db_url) as scheduler:
        sync_jobs(scheduler, sites, run_now=True)  # due now, as after downtime
        due = scheduler.get_job("crawl:alpha").next_run_time
    for _ in range(3):  # `finwatch jobs` while serve is down
        assert {j.id: j.next_run_time for j in list_jobs(db_url)}["crawl:alpha"] == due


def test_failing_crawl_is_logged_as_an_error(tmp_path: Path, db_url: str,
                                             monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    for name, value in crawl_env(tmp_path, db_url).items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.INFO, logger="monitor.jobs"):
        code = jobs.crawl_site("alpha", str(tmp_path / "missing-sites.yaml"))
    assert code not in (0, -1)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and f"crawl alpha: failed, exit code {code}" in errors[0]
    assert "missing-sites.yaml" in errors[0]  # the child's own message is in the log


SLOW_S = 1  # how long the slow site takes to answer each request
MAX_PAGES = 40  # per crawl of the slow site: a crawl left to finish requests this many


@dataclass
class SlowSite:
    url: str
    requests: list[str] = field(default_factory=list)
    first_request: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def slow_site() -> Iterator[SlowSite]:
    """A loopback site of endless pages, each linking to ten more and answered after SLOW_S."""
    site = SlowSite(url="")

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            site.requests.append(self.path)
            site.first_request.set()
            time.sleep(SLOW_S)
            links = "".join(f'<a href="{self.path}{i}/">{i}</a>' for i in range(10))
            body = f"<html><body><p>慢</p>{links}</body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site.url = f"http://127.0.0.1:{server.server_address[1]}/"
    yield site
    server.shutdown()
    server.server_close()


def test_crawl_past_its_timeout_is_stopped_and_logged_as_an_error(
        tmp_path: Path, db_url: str, slow_site: SlowSite, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    for name, value in crawl_env(tmp_path, db_url).items():
        monkeypatch.setenv(name, value)
    sites = write_sites(tmp_path / "sites.yaml", {"slow": {"every_minutes": 60}},
                        start_url=slow_site.url)
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="monitor.jobs"):
        jobs.crawl_site("slow", str(sites), timeout_s=1)
    assert time.monotonic() - started < jobs.STOP_GRACE_S
    assert "crawl slow: timed out and was stopped" in caplog.text
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_crawl_of_a_site_already_being_crawled_is_skipped(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("FINWATCH_SCHEDULER_DB", db_url)
    import fcntl

    with jobs.lock_file("crawl-alpha") as held:  # e.g. a crawl orphaned by a killed service
        fcntl.flock(held, fcntl.LOCK_EX)
        assert jobs.crawl_site("alpha", str(tmp_path / "missing-sites.yaml")) == -1
    assert "still running" in caplog.text


def test_digests_job_calls_the_digest_service_and_logs_failures(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[datetime] = []

    def send_due_digests(now: datetime) -> list[SimpleNamespace]:
        calls.append(now)
        return [SimpleNamespace(status="sent"), SimpleNamespace(status="failed")]

    fake = ModuleType(jobs.DIGEST_SERVICE)
    fake.send_due_digests = send_due_digests  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, jobs.DIGEST_SERVICE, fake)
    with caplog.at_level(logging.INFO, logger="monitor.jobs"):
        jobs.send_digests()
    assert len(calls) == 1 and calls[0].tzinfo is not None
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "digests: 1 failed, 1 sent")]


def test_digests_job_says_so_when_the_digest_service_is_missing(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, jobs.DIGEST_SERVICE, None)  # as if it did not exist
    with caplog.at_level(logging.WARNING, logger="monitor.jobs"):
        jobs.send_digests()
    assert "digests: not available yet" in caplog.text


# --- the real service process -------------------------------------------------------------

def finwatch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, env=env)


def start_serve(sites: Path, log: Path, env: dict[str, str], *extra: str) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-m", "monitor.cli", "serve", "--sites",
                                 str(sites), *extra], cwd=REPO_ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def wait_for_line(log: Path, text: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert proc.poll() is None, f"serve exited with {proc.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} in:\n{log.read_text()}"
        time.sleep(0.2)


def listed_jobs(env: dict[str, str]) -> dict[str, str]:
    result = finwatch("jobs", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {j["id"]: j["next_run_time"] for j in map(json.loads, result.stdout.splitlines())}


def stop(proc: subprocess.Popen, log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()
    assert "stopped cleanly" in log.read_text()


def test_serve_killed_and_restarted_loses_and_doubles_no_job(tmp_path: Path,
                                                             db_url: str) -> None:
    sites = write_sites(tmp_path / "sites.yaml",
                        {"alpha": {"every_minutes": 120}, "beta": {"cron": "0 4 * * 1"}})
    env = {**os.environ, **crawl_env(tmp_path, db_url)}
    first = start_serve(sites, tmp_path / "first.log", env)
    try:
        wait_for_line(tmp_path / "first.log", "finwatch serve: running", first)
        before = listed_jobs(env)
        assert set(before) == {"crawl:alpha", "crawl:beta", "digests:weekly", "housekeeping"}
        first.kill()  # SIGKILL: no chance to clean up
        assert first.wait(timeout=30) == -signal.SIGKILL
    finally:
        first.kill()
    second = start_serve(sites, tmp_path / "second.log", env)
    try:
        wait_for_line(tmp_path / "second.log", "finwatch serve: running", second)
        assert listed_jobs(env) == before  # same jobs, next run times not reset
        assert rows(db_url) == sorted(before)
        stop(second, tmp_path / "second.log")
    finally:
        second.kill()


def test_sigterm_stops_a_running_crawl_which_then_runs_first_at_the_next_start(
        tmp_path: Path, db_url: str, slow_site: SlowSite) -> None:
    sites = write_sites(tmp_path / "sites.yaml", {"slow": {"every_minutes": 600}},
                        start_url=slow_site.url, max_pages=MAX_PAGES)
    env = {**os.environ, **crawl_env(tmp_path, db_url)}
    log = tmp_path / "serve.log"
    serve = start_serve(sites, log, env, "--run-now")
    try:
        assert slow_site.first_request.wait(60), log.read_text()  # the crawl is under way
        stop(serve, log)
    finally:
        serve.kill()
    assert "crawl slow: stopped by shutdown" in log.read_text()
    assert len(slow_site.requests) < MAX_PAGES  # stopped, not left to finish
    due = datetime.fromisoformat(listed_jobs(env)["crawl:slow"])
    assert due <= datetime.now(due.tzinfo)  # runs at the next start, not 600 minutes later
