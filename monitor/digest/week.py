"""ISO weeks in the users' time zone: a digest covers Monday 00:00 to the next Monday 00:00.

Why the zone matters: Elasticsearch stores UTC; an alert first seen on Monday 03:00 in Tianjin is
Sunday in UTC and must count in the week the unit sees on its calendar.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def local_zone() -> ZoneInfo:
    """$FINWATCH_TIMEZONE, default Asia/Shanghai (the district's clock)."""
    return ZoneInfo(os.environ.get("FINWATCH_TIMEZONE", "Asia/Shanghai"))


@dataclass(frozen=True, order=True)
class Week:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Week:
        """`2026-W48` -> Week; ValueError naming the expected form otherwise."""
        match = _WEEK_RE.match(text.strip())
        if not match:
            raise ValueError(f"week {text!r}: expected the ISO form YYYY-Www, e.g. 2026-W48")
        year, number = int(match[1]), int(match[2])
        try:
            date.fromisocalendar(year, number, 1)
        except ValueError as exc:
            raise ValueError(f"week {text!r}: {year} has no ISO week {number}") from exc
        return cls(year, number)

    @classmethod
    def containing(cls, moment: datetime) -> Week:
        iso = moment.astimezone(local_zone()).isocalendar()
        return cls(iso.year, iso.week)

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def first_day(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(7)]

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), local_zone())

    @property
    def end(self) -> datetime:
        return datetime.combine(self.first_day + timedelta(days=7), time(), local_zone())

    def previous(self) -> Week:
        iso = (self.first_day - timedelta(days=7)).isocalendar()
        return Week(iso.year, iso.week)

    @property
    def title_zh(self) -> str:
        first, last = self.first_day, self.first_day + timedelta(days=6)
        return (f"{self.year}年第{self.number}周（{first.month}月{first.day}日—"
                f"{last.month}月{last.day}日）")

    def __str__(self) -> str:
        return self.label
