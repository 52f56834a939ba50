"""Distributed mode: several crawler processes share one frontier and dupefilter in Redis.

Why per-run keys: with SCHEDULER_PERSIST (required, or the first idle worker wipes the shared
queue) a dupefilter that outlived its run would make every later crawl see nothing new. All
workers of one run get the same run id; the keys are deleted when the run is over.
"""

from __future__ import annotations

import os
import re
from typing import Any

_RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def redis_url() -> str | None:
    return os.environ.get("FINWATCH_REDIS_URL") or None


def redis_settings(run_id: str, url: str, idle_before_close_s: int = 3) -> dict[str, Any]:
    """Scrapy settings that put this process's frontier and dupefilter in Redis."""
    if not _RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return {
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_KEY": f"finwatch:{run_id}:requests",
        "SCHEDULER_DUPEFILTER_KEY": f"finwatch:{run_id}:dupefilter",
        # Wait this long on an empty shared queue before calling this worker idle: another
        # worker may be about to push the links of the page it is parsing.
        "SCHEDULER_IDLE_BEFORE_CLOSE": idle_before_close_s,
        "REDIS_URL": url,
        "FINWATCH_RUN_ID": run_id,
    }


def clear_run(run_id: str, url: str) -> int:
    """Delete a finished run's queue and dupefilter; returns the number of keys removed."""
    import redis

    client = redis.Redis.from_url(url)
    return int(client.delete(f"finwatch:{run_id}:requests", f"finwatch:{run_id}:dupefilter"))


class RunLifecycle:
    """Counts the workers of a distributed run in Redis; the last one to close clears the run.

    Workers of one run are started together (the scheduler or operator launches them); a worker
    that starts after the run was cleared would begin a new run with the same id.
    """

    def __init__(self, run_id: str, url: str) -> None:
        import redis

        self.run_id = run_id
        self.url = url
        self.client = redis.Redis.from_url(url)
        self.workers_key = f"finwatch:{run_id}:workers"

    @classmethod
    def from_crawler(cls, crawler: Any) -> RunLifecycle:
        from scrapy import signals
        from scrapy.exceptions import NotConfigured

        run_id = crawler.settings.get("FINWATCH_RUN_ID")
        url = crawler.settings.get("REDIS_URL")
        if not run_id or not url:
            raise NotConfigured("not a distributed run")
        extension = cls(run_id, url)
        crawler.signals.connect(extension.opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.closed, signal=signals.spider_closed)
        return extension

    def opened(self, spider: Any) -> None:
        self.client.incr(self.workers_key)

    def closed(self, spider: Any) -> None:
        if int(self.client.decr(self.workers_key)) <= 0:
            clear_run(self.run_id, self.url)
            self.client.delete(self.workers_key)
