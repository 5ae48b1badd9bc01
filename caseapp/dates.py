"""Calendar arithmetic and "today" in the communes' time zone (times are stored in UTC)."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")  # due dates are days in the communes' time zone


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it has no such day)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_working_days(day: date, count: int) -> date:
    """``count`` working days (Monday–Friday) after ``day``."""
    while count > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def local_day(moment: datetime | None = None) -> date:
    """The day in Asia/Ho_Chi_Minh at ``moment`` (an aware time; default: now)."""
    return (moment or datetime.now(UTC)).astimezone(VIETNAM).date()
