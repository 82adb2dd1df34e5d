"""A timeline entry read from a source, its limits (the document's timeline columns), and the
check of entries a person sends back after choosing them."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from kb.document_checks import format_datetime, parse_datetime
from kb.document_format import BY_NAME

_COLUMNS = {c.name: c for c in BY_NAME["timeline"].columns}
TEXT_MAX = _COLUMNS["text"].max_len
SOURCE_MAX = _COLUMNS["source"].max_len
ENTRIES_MAX = BY_NAME["timeline"].limit  # the most entries a timeline holds
YEARS = (1970, 2100)  # the times an incident's entries may have (as kb/importers/times.py reads)


class SourceError(ValueError):
    """A file, a choice or an entry that cannot be read; `field` names the part at fault."""

    def __init__(self, message, field="file"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Entry:
    """One timeline entry: when (UTC, to the second), what happened, and where it was read."""

    at: datetime
    text: str
    source: str | None

    @classmethod
    def of(cls, at, text, source):
        """An entry with its text and source clipped to the document's limits."""
        return cls(at.astimezone(UTC).replace(microsecond=0), clip(text), one_line(source))

    def as_row(self):
        """The entry as a row of the document's timeline."""
        return {"at": format_datetime(self.at), "text": self.text, "source": self.source}

    @property
    def key(self):
        """What makes two entries the same: their time and their text (spacing aside)."""
        return same_key(format_datetime(self.at), self.text)


class Found(NamedTuple):
    """What a reader found for the window."""

    entries: list  # in time order; a reader that knows the window keeps only its entries
    problems: list  # what was left out as unreadable, in words
    channel: str | None = None  # Slack: the conversation read
    outside: int = 0  # entries the reader left out as outside the window
    more: int = 0  # entries in the window the reader did not make (past ENTRIES_MAX + 1)


def first_entries(candidates, make):
    """(entries, more): `make(moment, raw)` of the earliest candidates ((moment, raw) pairs),
    without duplicates, until one more than the timeline can hold; the rest only counted, so
    a file of many entries costs little more than its first ones."""
    candidates = sorted(candidates, key=lambda candidate: candidate[0])
    entries, seen = [], set()
    for index, (moment, raw) in enumerate(candidates):
        entry = make(moment, raw)
        if entry is not None and entry.key not in seen:
            seen.add(entry.key)
            entries.append(entry)
            if len(entries) > ENTRIES_MAX:
                return entries, len(candidates) - index - 1
    return entries, 0


def same_key(at, text):
    """The de-duplication key of a timeline row's time and text."""
    return at, " ".join((text or "").split())


def clip(text):
    """Text within the timeline's limit, marked with an ellipsis where it was cut."""
    text = (text or "").strip()
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1].rstrip() + "…"


def one_line(source):
    """A source on one line, within its limit, or None."""
    source = " ".join((source or "").split())
    if not source:
        return None
    return source if len(source) <= SOURCE_MAX else source[: SOURCE_MAX - 1].rstrip() + "…"


def checked(rows):
    """The entries a person chose (dicts of at, text, source), or SourceError naming the first
    that is not an entry: they come back from a form or a client, so they are read again."""
    if not isinstance(rows, list):
        raise SourceError("must be a list of entries", "entries")
    if len(rows) > ENTRIES_MAX:
        raise SourceError(f"at most {ENTRIES_MAX:,} entries at a time", "entries")
    found = []
    for i, row in enumerate(rows):
        where = f"entries[{i}]"
        if not isinstance(row, dict) or set(row) - {"at", "text", "source"}:
            raise SourceError("must be an object of at, text and source", where)
        at = parse_datetime(row.get("at"))
        if at is None or not YEARS[0] <= at.year <= YEARS[1]:
            raise SourceError(
                f"at: must be a date and time with a time zone, from {YEARS[0]} to {YEARS[1]}",
                where,
            )
        text, source = row.get("text"), row.get("source")
        if not isinstance(text, str) or not text.strip() or len(text.strip()) > TEXT_MAX:
            raise SourceError(f"text: must be 1 to {TEXT_MAX:,} characters", where)
        if source is not None and (not isinstance(source, str) or len(source) > SOURCE_MAX):
            raise SourceError(f"source: must be at most {SOURCE_MAX} characters", where)
        found.append(Entry.of(at, text, source))
    return found
