"""Calendar months, the unit of every figure, trend and digest.

A month is held as the `date` of its first day. Every module that counts by month, parses a
month from a URL or an option, or steps from one month to the next does it here.
"""

import re
from datetime import UTC, date, datetime

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


class MonthError(ValueError):
    """A month that is not YYYY-MM, or that has not begun yet."""


def month_start(day):
    """The first day of the month of `day` (a date or a datetime)."""
    return date(day.year, day.month, 1)


def month_index(day):
    """Months as consecutive integers (January of year 0 is 0): differences count months."""
    return day.year * 12 + day.month - 1


def month_from_index(number):
    """The first day of the month `index` numbered `number`."""
    return date(number // 12, number % 12 + 1, 1)


def shift_month(day, months):
    """The first day of the month `months` after (or, negative, before) the month of `day`."""
    return month_from_index(month_index(day) + months)


def next_month(day):
    """The first day of the month after the month of `day`."""
    return shift_month(day, 1)


def previous_month(day):
    """The first day of the month before the month of `day`."""
    return shift_month(day, -1)


def months_between(first, last):
    """Every month from `first` to `last` inclusive, as first days (empty when first > last)."""
    return [month_from_index(i) for i in range(month_index(first), month_index(last) + 1)]


def month_key(month):
    """A month as YYYY-MM (URLs, options and stored keys)."""
    return f"{month:%Y-%m}"


def this_month(today=None):
    """The first day of the current month (UTC)."""
    return month_start(today or datetime.now(UTC).date())


def last_ended_month(today=None):
    """The month that ended most recently (the default digest, sent on the 1st)."""
    return previous_month(this_month(today))


def parse_month(text, *, earliest=1970, allow_future=False, today=None):
    """A YYYY-MM string as the first day of that month.

    Refuses other forms, years before `earliest`, and (unless `allow_future`) months that
    have not begun yet, with a message that says what to write instead.
    """
    match = _MONTH_RE.match((text or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < earliest:
        raise MonthError(f"{text!r} is not a month: use YYYY-MM, for example 2026-10")
    month = date(int(match.group(1)), int(match.group(2)), 1)
    if not allow_future and month > this_month(today):
        raise MonthError(f"{month:%B %Y} has not begun yet")
    return month


def month_begins(month):
    """The first instant of the month of `month`, in UTC."""
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def month_ends(month):
    """The first instant of the next month: the exclusive end of `month`, in UTC."""
    return month_begins(next_month(month))
