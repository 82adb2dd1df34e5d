"""The fields of a document given in a Markdown file's front matter (YAML, or TOML between
+++ lines): title, date, authors, severity, tags, status, and every other field of the format
that `kb export --format markdown` writes there."""

import re
from datetime import UTC, date, datetime

from kb.document import FORMAT, format_datetime
from kb.document_format import AUTHOR_RE, REF_RE
from kb.models import DECISIONS, KINDS, SEVERITIES, STATUSES, TIMESTAMPS, TRIGGERS, VISIBILITIES

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CHOICES = {
    "kind": KINDS,
    "status": STATUSES,
    "visibility": VISIBILITIES,
    "trigger": TRIGGERS,
    "decision": DECISIONS,
}


def fields(front, found):
    """The document fields `front` gives; what it gives wrongly is named in found.problems."""
    doc = {}
    if front.get("format") not in (None, FORMAT):
        found.problems.append(f"front matter format {front['format']!r} is not {FORMAT}")
    if isinstance(front.get("ref"), str | int):
        doc["ref"] = str(front["ref"])
    premortem = front.get("premortem")
    if isinstance(premortem, str | int) and REF_RE.match(str(premortem).strip()):
        doc["premortem"] = str(premortem).strip()
    elif premortem is not None:
        found.problems.append(f"premortem {premortem!r} is not the ref of a pre-mortem")
    for key, allowed in _CHOICES.items():
        value = front.get(key)
        if value in allowed:
            doc[key] = value
        elif value is not None:
            found.problems.append(f"{key} {value!r} is not one of {', '.join(allowed)}")
    severity = front.get("severity")
    if severity is not None:
        normal = re.sub(r"[\s-]", "", str(severity)).upper()
        if normal in SEVERITIES:
            doc["severity"] = normal
        else:
            found.problems.append(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    for key in TIMESTAMPS:
        moment = _moment(front.get(key))
        if moment:
            doc[key] = moment
    for key in ("tags", "teams", "services"):
        values = _strings(front.get(key))
        if values:
            doc[key] = values
    people = _strings(front.get("authors", front.get("author")))
    authors = [p for p in people if AUTHOR_RE.match(p)]
    if authors:
        doc["authors"] = authors[:20]
    readers = [p for p in _strings(front.get("readers")) if EMAIL.match(p)]
    if readers:
        doc["readers"] = readers
    return doc, [p for p in people if p not in doc.get("authors", [])]


def day_of(front):
    """The date the front matter gives (`date`, else `started_at`), or None."""
    value = front.get("date", front.get("started_at"))
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


def _moment(value):
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return format_datetime(value.astimezone(UTC))
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _strings(value):
    if value is None:
        return []
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    out = []
    for item in values:
        for part in str(item).split(",") if isinstance(item, str) else [str(item)]:
            part = part.strip(" []")
            if part and part not in out:
                out.append(part)
    return out
