"""The list fields of an imported postmortem: timeline entries, contributing factors, action
items and links, read from list items, table rows (by their column headings), checklists and
paragraphs. What cannot be an entry (a sub-heading, text past a limit) goes to the notes."""

import re
from datetime import date

from kb.document import format_datetime
from kb.importers import headings
from kb.importers.times import leading_time

TIMELINE_MAX, FACTORS_MAX, ACTIONS_MAX, LINKS_MAX = 500, 50, 100, 50
TEXT_MAX, TITLE_MAX, SOURCE_MAX, OWNER_MAX = 2000, 300, 100, 100
URL = re.compile(r"https?://[^\s)>\]|]+")
_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
# Column headings, normalised, by the part of an entry they hold.
COLUMNS = {
    "time": ("time", "time utc", "when", "date", "timestamp", "date time", "at"),
    "source": ("source", "from", "channel"),
    "category": ("category", "kind", "type", "area"),
    "owner": ("owner", "assignee", "who", "responsible", "assigned to"),
    "status": ("status", "state", "done"),
    "due": ("due", "due date", "deadline", "by", "target date"),
    "url": ("link", "url", "ticket", "issue", "tracker", "jira"),
    "factor": ("factor", "addresses", "for factor"),
    "number": ("", "no", "number", "n", "id"),
    "risk": ("mitigates risk", "for risk"),
}
# A pre-mortem's risks table, and an incident's table of the risks it says happened.
RISK_COLUMNS = {
    "what": (
        "risk",
        "risks",
        "how it fails",
        "how it could fail",
        "failure",
        "what could go wrong",
    ),
    "likelihood": ("likelihood", "probability", "chance"),
    "impact": ("impact", "consequence"),
    "mitigation": ("mitigation", "mitigations", "mitigation plan", "prevention"),
    "owner": COLUMNS["owner"],
    "signals": ("signals", "signal", "warning signs", "early signals", "how we would know"),
    "source": ("source", "from", "seen in"),
    "number": COLUMNS["number"],
}
FORESEEN_COLUMNS = {
    "risk": ("risk", "risk no", "risk number"),
    "materialised": ("materialised", "materialized", "happened", "did it happen"),
    "note": ("note", "notes", "comment"),
}
LEVELS = {"low": "low", "l": "low", "medium": "medium", "med": "medium", "m": "medium",
          "high": "high", "h": "high"}  # fmt: skip
YES_NO = {"yes": "yes", "y": "yes", "true": "yes", "no": "no", "n": "no", "false": "no"}
RISKS_MAX, FORESEEN_MAX, SIGNAL_MAX, RISK_SOURCE_MAX = 50, 50, 2000, 300
STATUSES = {
    "done": "done", "complete": "done", "completed": "done", "closed": "done",
    "fixed": "done", "resolved": "done", "yes": "done", "x": "done", "✅": "done",
    "in progress": "in-progress", "in-progress": "in-progress", "doing": "in-progress",
    "started": "in-progress", "open": "open", "todo": "open", "to do": "open",
    "pending": "open", "no": "open", "not started": "open", "won't do": "wont-do",
    "wont do": "wont-do", "wont-do": "wont-do", "won't fix": "wont-do", "cancelled": "wont-do",
}  # fmt: skip


def pieces(segments, by_line=False, columns=None):
    """Each entry of the segments: one per list item, table row or paragraph (one per line
    when `by_line`, as in a timeline written line by line), with the lines that continue it.
    A table's column headings are named by `columns` (COLUMNS unless given)."""
    found = []
    for segment in segments:
        current, key = None, None
        header = None
        for unit in segment.units:
            if unit.kind == "row":
                if unit.header:
                    header = [_role(c, columns or COLUMNS) for c in unit.cells]
                elif any(unit.cells):
                    found.append(([unit], header))
                current, key = None, None
            elif unit.kind == "heading":
                found.append(([unit], None))
                current, key = None, None
            else:
                unit_key = ("item", unit.item) if unit.item >= 0 else ("para", unit.paragraph)
                starts = (
                    unit.kind in ("item", "code")
                    or unit_key != key
                    or leading_time(unit.text)
                    or (by_line and unit.item < 0)
                )
                if starts or current is None:
                    current = [unit]
                    found.append((current, None))
                else:
                    current.append(unit)
                key = unit_key
    return found


def _role(cell, columns=COLUMNS):
    name = headings.normalise(cell)
    name = re.sub(r"\s*\(.*?\)\s*", " ", name).strip() if "(" in cell else name
    return next((role for role, names in columns.items() if name in names), None)


def _columns(unit, header):
    """{role: text} of a table row, the unnamed cells joined as its text."""
    roles, texts = {}, []
    for index, cell in enumerate(unit.cells):
        role = header[index] if header and index < len(header) else None
        if role and role != "number" and role not in roles:
            roles[role] = cell
        elif cell and role != "number":
            texts.append(cell)
    roles["text"] = " — ".join(texts)
    return roles


def sub_label(piece, notes):
    """A heading, or a short line ending in a colon, among entries: kept in the notes."""
    text = " ".join(u.text for u in piece).strip()
    words = text.split()
    if piece[0].kind == "heading" or (text.endswith(":") and 0 < len(words) <= 8):
        notes.append(f"**{text.rstrip(':')}:**" if piece[0].kind != "heading" else f"**{text}**")
        return True
    return False


def _text(piece):
    return "\n".join(u.text for u in piece).strip() if len(piece) > 1 else piece[0].text.strip()


def _fit(text, limit, notes):
    if len(text) > limit:
        notes.append(text)
        return text[: limit - 1] + "…"
    return text


def timeline(segments, clock, notes):
    entries = []
    for piece, header in pieces(segments, by_line=True):
        first = piece[0]
        if first.kind != "row" and sub_label(piece, notes):
            continue
        source = ""
        if first.kind == "row":
            columns = _columns(first, header)
            cell = columns.get("time", "")
            text, source = columns["text"], columns.get("source", "")
            if not header or "time" not in header:  # no headings: the cell that is a time
                cell = next((c for c in first.cells if leading_time(c)), "")
                text = " — ".join(c for c in first.cells if c and c != cell)
            parsed = leading_time(cell) if cell else None
        else:
            text = " ".join(u.text for u in piece).strip()
            parsed = leading_time(text)
            if parsed:
                text = parsed[4] or text
        moment = clock.at(*parsed[:4]) if parsed else None
        if not text:
            continue
        entry = {
            "at": format_datetime(moment) if moment else None,
            "text": _fit(text, TEXT_MAX, notes),
        }
        if source:
            entry["source"] = source[:SOURCE_MAX]
        entries.append(entry)
    notes.extend(e["text"] for e in entries[TIMELINE_MAX:])
    return entries[:TIMELINE_MAX]


def factors(segments, notes):
    found = []
    for piece, header in pieces(segments):
        if piece[0].kind == "row":
            columns = _columns(piece[0], header)
            text = columns["text"] or columns.get("factor", "")
            category = columns.get("category", "")
        else:
            if sub_label(piece, notes):
                continue
            text, category = " ".join(u.text for u in piece).strip(), ""
        if text:
            factor = {"text": _fit(text, TEXT_MAX, notes)}
            if category:
                factor["category"] = category
            found.append(factor)
    notes.extend(f["text"] for f in found[FACTORS_MAX:])
    return found[:FACTORS_MAX]


def actions(segments, notes):
    items = []
    for piece, header in pieces(segments):
        first = piece[0]
        item = {}
        if first.kind == "row":
            columns = _columns(first, header)
            title = columns["text"]
            if columns.get("owner"):
                item["owner"] = columns["owner"][:OWNER_MAX]
            status = STATUSES.get(columns.get("status", "").strip().lower())
            if status:
                item["status"] = status
            url = URL.search(columns.get("url", ""))
            if url:
                item["url"] = url.group(0)
            due = _DAY.search(columns.get("due", ""))
            if due:
                try:
                    item["due"] = date(*map(int, due.groups())).isoformat()
                except ValueError:
                    notes.append(f"{title}: due {columns['due']}")
            factor = columns.get("factor", "").strip()
            if factor.isdigit() and int(factor) >= 1:
                item["factor"] = int(factor) - 1
            risk = columns.get("risk", "").strip()
            if risk.isdigit() and int(risk) >= 1:
                item["risk"] = int(risk)
        else:
            if sub_label(piece, notes):
                continue
            title = " ".join(u.text for u in piece).strip()
            if first.checked:
                item["status"] = "done"
        if title:
            items.append({"title": _fit(title, TITLE_MAX, notes), **item})
    notes.extend(i["title"] for i in items[ACTIONS_MAX:])
    return items[:ACTIONS_MAX]


def links(segments, notes):
    found = []
    for piece, _header in pieces(segments):
        text = " ".join(u.text for u in piece).strip()
        url = URL.search(" ".join(u.source for u in piece))
        if url and len(found) < LINKS_MAX:
            title = text.replace(url.group(0), "").strip(" -:()[]") or url.group(0)
            found.append({"title": title[:200], "url": url.group(0)})
        elif text:
            notes.append(text)
    return found


def risks(segments, notes):
    """A pre-mortem's risks: table rows by their headings (RISK_COLUMNS), or one per item or
    paragraph (its text alone)."""
    found = []
    for piece, header in pieces(segments, columns=RISK_COLUMNS):
        risk = {}
        if piece[0].kind == "row":
            columns = _columns(piece[0], header)
            text = columns.get("what") or columns["text"]
            for key in ("likelihood", "impact"):
                level = LEVELS.get(columns.get(key, "").strip().lower())
                if level:
                    risk[key] = level
                elif columns.get(key, "").strip():
                    notes.append(f"{text}: {key} {columns[key]}")
            for key, limit in (
                ("mitigation", TEXT_MAX),
                ("owner", OWNER_MAX),
                ("signals", SIGNAL_MAX),
                ("source", RISK_SOURCE_MAX),
            ):
                if columns.get(key, "").strip():
                    risk[key] = _fit(columns[key].strip(), limit, notes)
        else:
            if sub_label(piece, notes):
                continue
            text = " ".join(u.text for u in piece).strip()
        if text:
            found.append({"text": _fit(text, TEXT_MAX, notes), **risk})
    notes.extend(r["text"] for r in found[RISKS_MAX:])
    return found[:RISKS_MAX]


def foreseen(segments, notes):
    """An incident's verdict on the risks of its pre-mortem: rows of risk number,
    materialised (yes or no) and a note. Anything else goes to the notes."""
    found, seen = [], set()
    for piece, header in pieces(segments, columns=FORESEEN_COLUMNS):
        if piece[0].kind != "row":
            text = " ".join(u.text for u in piece).strip()
            if text:
                notes.append(text)
            continue
        columns = _columns(piece[0], header)
        number = columns.get("risk", "").strip()
        happened = YES_NO.get(columns.get("materialised", "").strip().lower())
        if not number.isdigit() or int(number) < 1 or int(number) in seen or not happened:
            notes.append(" | ".join(piece[0].cells))
            continue
        seen.add(int(number))
        row = {"risk": int(number), "materialised": happened}
        note = (columns.get("note") or columns.get("text") or "").strip()
        if note:
            row["note"] = note[:500]
        found.append(row)
    return found[:FORESEEN_MAX]
