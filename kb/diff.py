"""Readable differences between two versions of a postmortem document, field by field.

difflib's matcher is quadratic to cubic in the number of words when words repeat: two
sections of 1,000 repetitive words took 26 seconds. So the common beginning and end are set
aside first (linear), and what is left is matched word by word, or else line by line, only
while it is short (MAX_TOKENS) and while the comparison's budget lasts (MAX_WORK); beyond
that, the changed middle is shown as removed and added as a whole (linear again).
"""

import difflib
import re
from dataclasses import dataclass

from kb import template
from kb.document_format import LABEL_FIELDS, ROWS, SCALARS
from kb.models import SECTIONS

_TOKEN = re.compile(r"\s+|[^\s]+")
MAX_TOKENS = 200  # words and spaces (or lines) on each side of one matcher run
MAX_WORK = 1_000_000  # the sum of len(a) * len(b) over every matcher run of one compare()


@dataclass(frozen=True)
class Chunk:
    op: str  # equal | insert | delete
    text: str


@dataclass(frozen=True)
class FieldDiff:
    field: str
    heading: str
    chunks: tuple[Chunk, ...]
    exact: bool = True  # False: too long to match word by word, the middle is shown whole


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
    if field == "risks":
        return "\n".join(_risk_line(i, r) for i, r in enumerate(value or []))
    if field == "foreseen":
        return "\n".join(_foreseen_line(row) for row in value or [])
    if field == "links":
        return "\n".join(f"{link.get('title')} <{link.get('url')}>" for link in value or [])
    if field in LABEL_FIELDS:
        return ", ".join(value or [])
    return "" if value is None else str(value)


def _timeline_line(entry):
    source = f"  ({entry['source']})" if entry.get("source") else ""
    return f"{entry.get('at')}  {entry.get('text')}{source}"


def _action_line(item):
    owner = item.get("owner") or "no owner"
    due = item.get("due") or "not set"
    risk = f", mitigates risk {item['risk']}" if item.get("risk") else ""
    return f"- {item.get('title')} ({item.get('status')}, {owner}, due {due}{risk})"


def _risk_line(index, risk):
    odds = f"likelihood {risk.get('likelihood') or '?'}, impact {risk.get('impact') or '?'}"
    parts = [f"{index + 1}. {risk.get('text')} ({odds})"]
    for key, words in (
        ("mitigation", "mitigation"),
        ("owner", "owner"),
        ("signals", "signals"),
        ("source", "source"),
    ):
        if risk.get(key):
            parts.append(f"   {words}: {risk[key]}")
    return "\n".join(parts)


def _foreseen_line(row):
    happened = "materialised" if row.get("materialised") == "yes" else "did not materialise"
    note = f" ({row['note']})" if row.get("note") else ""
    return f"risk {row.get('risk')}: {happened}{note}"


class _Budget:
    """What is left of one comparison's matcher work, and whether any part went linear."""

    def __init__(self):
        self.work = MAX_WORK
        self.exact = True

    def allows(self, a, b):
        if len(a) > MAX_TOKENS or len(b) > MAX_TOKENS or len(a) * len(b) > self.work:
            return False
        self.work -= len(a) * len(b)
        return True


def _chunks(old, new, budget):
    chunks = []
    _diff(_TOKEN.findall(old), _TOKEN.findall(new), budget, chunks, by_lines=True)
    merged = []
    for chunk in chunks:  # neighbours of the same kind read as one
        if merged and merged[-1].op == chunk.op:
            merged[-1] = Chunk(chunk.op, merged[-1].text + chunk.text)
        elif chunk.text:
            merged.append(chunk)
    return tuple(merged)


def _diff(a, b, budget, chunks, by_lines):
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end = 0
    while end < len(a) - start and end < len(b) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    chunks.append(Chunk("equal", "".join(a[:start])))
    middle_a, middle_b = a[start : len(a) - end], b[start : len(b) - end]
    if budget.allows(middle_a, middle_b):
        _matched(middle_a, middle_b, chunks)
    elif by_lines and _by_lines(middle_a, middle_b, budget, chunks):
        pass
    else:
        budget.exact = False
        chunks.append(Chunk("delete", "".join(middle_a)))
        chunks.append(Chunk("insert", "".join(middle_b)))
    chunks.append(Chunk("equal", "".join(a[len(a) - end :])))


def _matched(a, b, chunks):
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            chunks.append(Chunk("equal", "".join(a[i1:i2])))
        else:
            chunks.append(Chunk("delete", "".join(a[i1:i2])))
            chunks.append(Chunk("insert", "".join(b[j1:j2])))


def _by_lines(a, b, budget, chunks):
    """Match whole lines, then the words of each changed run of lines; False if too long."""
    lines_a, lines_b = _lines_of(a), _lines_of(b)
    if not budget.allows(lines_a, lines_b):
        return False
    matcher = difflib.SequenceMatcher(a=lines_a, b=lines_b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            chunks.append(Chunk("equal", "".join(lines_a[i1:i2])))
        else:
            old = _TOKEN.findall("".join(lines_a[i1:i2]))
            new = _TOKEN.findall("".join(lines_b[j1:j2]))
            _diff(old, new, budget, chunks, by_lines=False)
    return True


def _lines_of(tokens):
    return "".join(tokens).splitlines(keepends=True)


def compare(old, new):
    """The fields that differ between two documents, each as a word-level diff."""
    fields = [*SCALARS, *LABEL_FIELDS, *SECTIONS, *ROWS]
    result = []
    budget = _Budget()
    for field in fields:
        before, after = _lines(old, field), _lines(new, field)
        if before != after:
            budget.exact = True
            chunks = _chunks(before, after, budget)
            result.append(FieldDiff(field, heading(field), chunks, budget.exact))
    return result


def heading(field):
    """The heading a person knows a field by."""
    if field in SECTIONS or field in ROWS:
        return template.heading(field)
    return field.replace("_at", "").replace("_", " ").capitalize()
