"""A PagerDuty incident's log entries, as its REST API answers
`GET /incidents/{id}/log_entries`: `{"log_entries": [{"type": "trigger_log_entry",
"created_at": "...", "summary": "...", "agent": {"summary": ...}, "channel": {...}}, ...]}`.

The text is the entry's summary (a note's own words for `annotate_log_entry`); the source is
`pagerduty`, with the agent (the person or service that acted) beside it. Several pages of the
answer may be given as a JSON list of answers.
"""

import json

from kb.document_checks import parse_datetime
from kb.timeline_sources.entries import Entry, Found, SourceError, first_entries


def read(data, window, label="the file"):
    """What a log_entries answer (bytes) holds for the window (Found)."""
    try:
        found = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise SourceError(f"{label} is not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{label} is not valid JSON ({exc})") from None
    items = _log_entries(found)
    if items is None:
        raise SourceError(
            f"{label} is not a PagerDuty log_entries answer: expected "
            '{"log_entries": [...]} from GET /incidents/{id}/log_entries'
        )
    candidates, outside, unreadable = [], 0, 0
    for item in items:
        moment = parse_datetime(item.get("created_at")) if isinstance(item, dict) else None
        if moment is None or not _summary(item.get("summary")):
            unreadable += 1
        elif moment in window:
            candidates.append((moment, item))
        else:
            outside += 1
    entries, more = first_entries(candidates, _entry)
    problems = []
    if unreadable:
        problems.append(
            f"{unreadable} log entr{'ies' if unreadable != 1 else 'y'} without a time or a "
            "summary left out"
        )
    return Found(entries, problems, None, outside, more)


def _log_entries(found):
    """The log entries of one answer, of a list of answers (pages), or a bare list; else None."""
    if isinstance(found, dict):
        if isinstance(found.get("log_entries"), list):
            return found["log_entries"]
        if isinstance(found.get("log_entry"), dict):  # GET /log_entries/{id}
            return [found["log_entry"]]
        return None
    if isinstance(found, list):
        if all(isinstance(page, dict) and "log_entries" in page for page in found) and found:
            pages = [_log_entries(page) for page in found]
            if any(page is None for page in pages):
                return None
            return [item for page in pages for item in page]
        if all(isinstance(item, dict) and "created_at" in item for item in found):
            return found
    return None


def _entry(moment, item):
    text = _summary(item.get("summary"))
    channel = item.get("channel") if isinstance(item.get("channel"), dict) else {}
    if item.get("type") == "annotate_log_entry":
        note = _summary(channel.get("summary")) or _summary(channel.get("content"))
        if note and note != text:
            text = f"Note: {note}"
    agent = item.get("agent") if isinstance(item.get("agent"), dict) else {}
    who = _summary(agent.get("summary"))
    return Entry.of(moment, text, f"pagerduty ({who})" if who else "pagerduty")


def _summary(value):
    return value.strip() if isinstance(value, str) else ""
