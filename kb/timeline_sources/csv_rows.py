"""A CSV of `time,text[,source]`, one entry a row, with or without a header row.

With a header, the columns are found by name (time, at, when, timestamp, date; text, event,
what, description, message; source, from, who, channel, author) and may come in any order.
Commas, semicolons or tabs separate the cells. A time is ISO 8601 (`2026-03-02T09:14:00Z`;
without a zone, in the chosen time zone), Unix seconds, or written as postmortems write
them (`09:14`, `9:14 AM PST`, `2026-03-02 09:14 UTC`): a time without a date takes the date
of the row before it, first the window's start date, and moves to the next day past
midnight (kb/importers/times.py). A row that cannot be read is named, and left out.
"""

import csv
import io
import re
from datetime import UTC, datetime

from kb.importers.times import Clock, leading_time
from kb.timeline_sources.entries import Entry, Found, SourceError

NAMES = {
    "time": ("time", "at", "when", "timestamp", "date", "time utc", "date time", "datetime"),
    "text": ("text", "event", "what", "description", "message", "entry", "summary"),
    "source": ("source", "from", "who", "channel", "author", "by"),
}
SHOWN_PROBLEMS = 20  # rows named one by one; the rest are counted
ROWS_MAX = 20_000  # a timeline holds 500 entries: a file of more rows than this is a log
_EPOCH = re.compile(r"^\d{9,10}(?:\.\d+)?$")


def read(data, tz, start_day, label="the file"):
    """What CSV bytes hold (Found, every row's entry: the caller keeps the window's).

    Times without a zone are in `tz` (a tzinfo); times without a date start on `start_day`.
    """
    text = _decoded(data, label)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text), dialect)
    clock = Clock(day=start_day)
    entries, problems, columns = [], [], None
    try:
        for number, row in enumerate(rows, start=1):
            if number > ROWS_MAX:
                raise SourceError(
                    f"{label} has more than {ROWS_MAX:,} rows: keep the rows of the incident "
                    "(a timeline holds 500 entries)"
                )
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if columns is None:
                columns = _header(cells)
                if columns is not None:
                    continue
                columns = {"time": 0, "text": 1, "source": 2}
            entry = _row(cells, columns, clock, tz)
            if isinstance(entry, str):
                problems.append(f"row {number}: {entry}")
            else:
                entries.append(entry)
    except csv.Error as exc:
        raise SourceError(f"{label} is not a readable CSV ({exc})") from None
    if not entries and not problems:
        raise SourceError(f"{label} has no rows")
    if len(problems) > SHOWN_PROBLEMS:
        problems[SHOWN_PROBLEMS:] = [f"and {len(problems) - SHOWN_PROBLEMS:,} more rows"]
    return Found(entries, problems)


def _decoded(data, label):
    if b"\x00" in data[:4096]:
        raise SourceError(f"{label} is not a text file (CSV)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # spreadsheets on Windows save this


def _header(cells):
    """{column: index} when the row names its columns, else None."""
    named = {}
    for index, cell in enumerate(cells):
        name = " ".join(cell.lower().replace("_", " ").split()).strip("()")
        name = re.sub(r"\s*\(.*?\)$", "", name)
        for column, names in NAMES.items():
            if name in names and column not in named:
                named[column] = index
    return named if "time" in named and "text" in named else None


def _row(cells, columns, clock, tz):
    """The entry of one row, or what is wrong with it."""

    def cell(column):
        index = columns.get(column)
        return cells[index] if index is not None and index < len(cells) else ""

    when, text = cell("time"), cell("text")
    if not when:
        return "no time"
    if not text:
        return f"no text beside {when!r}"
    moment = _moment(when, clock, tz)
    if moment is None:
        return f"{when[:40]!r} is not a time"
    return Entry.of(moment, text, cell("source") or "csv")


def _moment(when, clock, tz):
    """A cell's time in UTC, or None."""
    if _EPOCH.match(when):
        try:
            return datetime.fromtimestamp(float(when), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    iso = when[:-1] + "+00:00" if when.endswith(("Z", "z")) else when
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        moment = None
    if moment is not None and len(when) > 10:  # a bare date is not a time
        clock.day, clock.last = moment.date(), moment.replace(tzinfo=None)  # later rows go on
        return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(UTC)
    found = leading_time(when)
    if found is None or found[4]:  # text after the time: not a time cell
        return None
    day, hour, minute, offset, _rest = found
    at = clock.at(day, hour, minute, offset)
    if at is None:
        return None
    if clock.offset is None:  # no zone written so far: the chosen one
        return at.replace(tzinfo=None).replace(tzinfo=tz).astimezone(UTC)
    return at
