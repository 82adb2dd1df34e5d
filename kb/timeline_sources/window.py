"""The incident's window: the entries worth importing are those between its start and its end,
with a margin either side. A person may move either end."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from kb.document_checks import format_datetime, parse_datetime
from kb.timeline_sources.entries import SourceError

LONGEST = timedelta(days=31)  # a window reads a day file per day per channel: bounded
OPEN_END = timedelta(hours=24)  # an incident without an end yet: its first day
END_FIELDS = ("resolved_at", "mitigated_at", "detected_at")  # the first one set ends it


@dataclass(frozen=True)
class Window:
    """From `start` to `end`, both included (UTC)."""

    start: datetime
    end: datetime

    def __contains__(self, moment):
        return self.start <= moment <= self.end

    def as_dict(self):
        return {"from": format_datetime(self.start), "to": format_datetime(self.end)}


def incident_times(doc):
    """(start, end) of the incident in a document, each a UTC datetime or None."""
    start = parse_datetime(doc.get("started_at"))
    ends = [parse_datetime(doc.get(name)) for name in END_FIELDS]
    end = next((moment for moment in ends if moment is not None), None)
    if start is not None and end is None:
        end = start + OPEN_END
    return start, end


def for_incident(doc, margin_minutes, start=None, end=None):
    """The window to import: `start` and `end` where given, else the incident's start and end
    moved out by the margin. SourceError (field `from` or `to`) when it cannot be told."""
    margin = timedelta(minutes=margin_minutes)
    started, ended = incident_times(doc)
    if start is None:
        if started is None:
            raise SourceError(
                "the postmortem has no start time yet: give the window's start", "from"
            )
        start = started - margin
    if end is None:
        end = ended + margin if ended is not None else start + OPEN_END
    if end <= start:
        raise SourceError("must be after the window's start", "to")
    if end - start > LONGEST:
        raise SourceError(f"the window may be at most {LONGEST.days} days long", "to")
    return Window(start, end)
