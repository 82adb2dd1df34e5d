"""Timeline entries from where they were recorded: a Slack export, a PagerDuty incident's log
entries, or a CSV. Each reader gives entries (`Entry`: at, text, source); `read` keeps those of
the incident's window, and a person chooses which to add (kb.editing.add_timeline_entries).
"""

from kb.timeline_sources.archive import Limits
from kb.timeline_sources.entries import Entry, SourceError, checked
from kb.timeline_sources.reading import SOURCES, Reading, from_folder, read
from kb.timeline_sources.window import Window, for_incident

__all__ = [
    "SOURCES",
    "Entry",
    "Limits",
    "Reading",
    "SourceError",
    "Window",
    "checked",
    "for_incident",
    "from_folder",
    "read",
]
