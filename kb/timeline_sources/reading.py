"""Reading one upload into the entries of the incident's window: the source's reader, then
the window, the order, duplicates within the file, and the timeline's limit."""

from dataclasses import dataclass, field
from datetime import UTC

from kb.timeline_sources import archive, csv_rows, pagerduty, slack
from kb.timeline_sources.entries import ENTRIES_MAX, Entry, SourceError
from kb.timeline_sources.window import Window

SOURCES = {
    "slack": "a Slack export (its .zip, or its folder)",
    "pagerduty": "a PagerDuty incident's log entries (JSON of its REST API)",
    "csv": "a CSV of time,text[,source]",
}


@dataclass
class Reading:
    """What an upload holds for the window."""

    source: str
    window: Window
    entries: list[Entry]  # in the window, in time order, at most ENTRIES_MAX
    outside: int = 0  # entries read that fall outside the window
    left_out: int = 0  # entries in the window past ENTRIES_MAX
    problems: list[str] = field(default_factory=list)  # rows or messages that were left out
    channel: str | None = None  # Slack: the conversation read


def read(source, files, window, *, limits=archive.Limits(), channel=None, hint=None, tz=UTC):
    """The entries of `files` ((name, bytes) pairs) for `window`; SourceError when they
    cannot be read as `source`. `hint` (the postmortem's ref) helps find a Slack channel;
    `tz` is the zone of CSV times written without one."""
    if source not in SOURCES:
        raise SourceError(f"must be one of {', '.join(SOURCES)}", "source")
    files = [(name, data) for name, data in files if data]
    if not files:
        raise SourceError("choose a file to import")
    if sum(len(data) for _name, data in files) > limits.upload:
        raise SourceError(f"the upload is larger than {limits.upload // (1024 * 1024):,} MiB")
    return _read(source, archive.from_files(files, limits), window, channel, hint, tz)


def from_folder(source, path, window, *, limits=archive.Limits(), channel=None, hint=None, tz=UTC):
    """`read` of a file or a folder on disk (a Slack export unpacked, or its zip)."""
    if source not in SOURCES:
        raise SourceError(f"must be one of {', '.join(SOURCES)}", "source")
    return _read(source, archive.from_folder(path, limits), window, channel, hint, tz)


def _read(source, export, window, channel, hint, tz):
    if source == "slack":
        found = slack.read(export, window, channel, hint)
    else:
        if len(export.names) != 1:
            raise SourceError(f"choose one file: {SOURCES[source]}")
        name = export.names[0]
        data = export.read(name)
        if source == "pagerduty":
            found = pagerduty.read(data, window, name)
        else:
            start_day = window.start.astimezone(tz).date()
            found = csv_rows.read(data, tz, start_day, name)
    return _within(source, window, found)


def _within(source, window, found):
    """The Reading of what a reader found: the window's entries, in order, without
    duplicates, at most ENTRIES_MAX (the rest counted)."""
    inside, seen = [], set()
    for entry in sorted(found.entries, key=lambda e: e.at):
        if entry.at in window and entry.key not in seen:
            seen.add(entry.key)
            inside.append(entry)
    outside = found.outside + sum(1 for entry in found.entries if entry.at not in window)
    return Reading(
        source=source,
        window=window,
        entries=inside[:ENTRIES_MAX],
        outside=outside,
        left_out=max(0, len(inside) - ENTRIES_MAX) + found.more,
        problems=found.problems,
        channel=found.channel,
    )
