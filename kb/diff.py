"""Readable differences between two versions of a postmortem document, field by field."""

import difflib
import re
from dataclasses import dataclass

from kb import template
from kb.models import SECTIONS, TIMESTAMPS

_TOKEN = re.compile(r"\s+|[^\s]+")
_SCALARS = ("title", "kind", "status", "severity", "visibility", "trigger", *TIMESTAMPS)
_LISTS = ("authors", "teams", "services", "tags", "readers")


@dataclass(frozen=True)
class Chunk:
    op: str  # equal | insert | delete
    text: str


@dataclass(frozen=True)
class FieldDiff:
    field: str
    heading: str
    chunks: tuple[Chunk, ...]


def _lines(doc, field):
    value = doc.get(field)
    if field == "timeline":
        return "\n".join(_timeline_line(e) for e in value or [])
    if field == "contributing_factors":
        return "\n".join(
            f"{i + 1}. {f.get('text')}" + (f" [{f['category']}]" if f.get("category") else "")
            for i, f in enumerate(value or [])
        )
    if field == "action_items":
        return "\n".join(_action_line(a) for a in value or [])
    if field == "links":
        return "\n".join(f"{link.get('title')} <{link.get('url')}>" for link in value or [])
    if field in _LISTS:
        return ", ".join(value or [])
    return "" if value is None else str(value)


def _timeline_line(entry):
    source = f"  ({entry['source']})" if entry.get("source") else ""
    return f"{entry.get('at')}  {entry.get('text')}{source}"


def _action_line(item):
    owner = item.get("owner") or "no owner"
    due = item.get("due") or "not set"
    return f"- {item.get('title')} ({item.get('status')}, {owner}, due {due})"


def _chunks(old, new):
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    chunks = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            chunks.append(Chunk("equal", "".join(a[i1:i2])))
        else:
            if i2 > i1:
                chunks.append(Chunk("delete", "".join(a[i1:i2])))
            if j2 > j1:
                chunks.append(Chunk("insert", "".join(b[j1:j2])))
    return tuple(chunks)


def compare(old, new):
    """The fields that differ between two documents, each as a word-level diff."""
    fields = [
        *_SCALARS,
        *_LISTS,
        *SECTIONS,
        "timeline",
        "contributing_factors",
        "action_items",
        "links",
    ]
    result = []
    for field in fields:
        before, after = _lines(old, field), _lines(new, field)
        if before != after:
            result.append(FieldDiff(field, heading(field), _chunks(before, after)))
    return result


def heading(field):
    """The heading a person knows a field by."""
    if field in SECTIONS or field in ("timeline", "contributing_factors", "action_items", "links"):
        return template.heading(field)
    return field.replace("_at", "").replace("_", " ").capitalize()
