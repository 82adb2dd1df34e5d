"""The editor's HTML form: reading it into a document and laying a document out as rows.

Lists (timeline, factors, action items, links) are numbered rows: `timeline-3-text`. Each
row has a `position` (reordering without JavaScript) and a `remove` box. Times are entered in
the writer's time zone (`tz`, an IANA name the page's script fills in; UTC without it) and
stored in UTC. The form shows times to the minute; each time field has a hidden twin
(`started_at-stored`, `timeline-3-at-stored`) with the stored value, so a time the writer
did not change keeps its seconds. `published_at` is not a field of the form: it is set when
the postmortem is published.
"""

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kb import template
from kb.document_format import EDITED_SCALARS, LABEL_FIELDS, ROWS
from kb.models import KINDS, SECTIONS, TIMESTAMPS
from kb.web import params

LIST_FIELDS = ROWS  # each list of rows, with its columns
NAME_LISTS = LABEL_FIELDS  # comma-separated names in one box each
SCALARS = EDITED_SCALARS  # one value each (status and published_at change by transitions)
TIMES = tuple(key for key in TIMESTAMPS if key != "published_at")  # the ones a writer sets
STORED = "stored"  # the suffix of a time field's hidden twin


def zone(name):
    """A time zone by IANA name; UTC for anything unknown."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def to_utc(value, tz):
    """A datetime-local value (2026-03-02T10:14) in zone `tz` as an ISO UTC string.

    Anything that does not parse is returned unchanged, so validation can name the field.
    """
    value = (value or "").strip()
    if not value:
        return None
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        return value
    if local.tzinfo is None:
        local = local.replace(tzinfo=tz)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_local(value, tz):
    """An ISO UTC string as a datetime-local value in zone `tz`."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def kept(value, stored, tz):
    """The UTC value of a time field: `stored` (with its seconds) when the writer left the
    field as the form showed it, else the value entered."""
    if stored and (value or "").strip() == to_local(stored, tz):
        return stored
    return to_utc(value, tz)


def _names(text):
    return [part.strip() for part in (text or "").replace("\n", ",").split(",") if part.strip()]


def _rows(form, prefix, keys, hidden=()):
    """The rows of one list, in position order, without removed or blank rows.

    `hidden` are keys read too but not counted when telling a blank row.
    """
    return [row for _index, row in _indexed_rows(form, prefix, keys, hidden)]


def _indexed_rows(form, prefix, keys, hidden=()):
    indices = set()
    for name in form:
        if name.startswith(prefix + "-"):
            middle = name[len(prefix) + 1 :].split("-", 1)[0]
            index = params.whole_or_none(middle)
            if index is not None:
                indices.add(index)
    rows = []
    for index in sorted(indices):
        if form.get(f"{prefix}-{index}-remove"):
            continue
        row = {key: (form.get(f"{prefix}-{index}-{key}") or "").strip() for key in keys + hidden}
        if not any(row[k] for k in keys if k not in ("status",)):
            continue
        try:
            position = float(form.get(f"{prefix}-{index}-position") or index)
        except ValueError:
            position = index
        rows.append((position, index, row))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [(index, row) for _p, index, row in rows]


def _factor(text):
    """The form numbers factors from 1; the document from 0. Anything else is left for
    validation to refuse, with a message on the field."""
    if not text:
        return None
    number = params.whole_or_none(text, low=1)
    return number - 1 if number is not None else text


def _number(text):
    """A risk's number as typed (from 1, as the document counts risks), else the text for
    validation to refuse."""
    if not text:
        return None
    number = params.whole_or_none(text, low=1)
    return number if number is not None else text


# What the form of each kind holds beyond what every kind has: a pre-mortem has no incident
# times, timeline or factors, an incident no plan or risks (kb/template.toml's `kinds`).
PREMORTEM_ONLY = ("decision", "planned_at", "risks")
INCIDENT_ONLY = (
    "severity",
    "premortem",
    "foreseen",
    "started_at",
    "detected_at",
    "mitigated_at",
    "resolved_at",
    "timeline",
    "contributing_factors",
)


def shown(kind):
    """The fields the editor shows for a document of `kind` (sections and lists by the
    template; the rest by PREMORTEM_ONLY and INCIDENT_ONLY)."""
    hidden = INCIDENT_ONLY if kind == "pre-mortem" else PREMORTEM_ONLY
    sections = {s["field"] for s in template.sections(kind)}
    fields = [*SCALARS, *NAME_LISTS, *TIMES, *SECTIONS, *LIST_FIELDS]
    return {f for f in fields if f not in hidden and (f not in SECTIONS or f in sections)}


def read(form, stored=None):
    """The form's fields as a raw document (validation happens in the domain).

    The form holds the fields the editor shows for its kind (see `shown`); the others keep
    their `stored` value (a pre-mortem's timeline survives a visit as a pre-mortem), except
    those no document of that kind may hold, which are left out.
    """
    raw = _read_all(form)
    kind = raw.get("kind") if raw.get("kind") in KINDS else "incident"
    keep = shown(kind) | {key for key in SECTIONS if key in form}  # see sections_shown
    out = {key: value for key, value in raw.items() if key in keep}
    foreign = ("premortem", "foreseen") if kind == "pre-mortem" else PREMORTEM_ONLY
    for key in raw:
        if key not in keep and key not in foreign and stored and key in stored:
            out[key] = stored[key]
    if "premortem" in keep and "premortem" not in form and stored:
        # The editor leaves out a link to a pre-mortem the writer may not read: it stays.
        out["premortem"], out["foreseen"] = stored.get("premortem"), stored.get("foreseen")
    return out


def sections_shown(doc):
    """The template's sections the editor shows for `doc`: those of its kind, and any other
    that holds text (an imported pre-mortem's summary is not hidden away)."""
    kind = doc.get("kind") if doc.get("kind") in KINDS else "incident"
    own = {s["field"] for s in template.sections(kind)}
    return [s for s in template.sections() if s["field"] in own or doc.get(s["field"])]


def _read_all(form):
    tz = zone(form.get("tz"))
    raw = {key: (form.get(key) or "").strip() or None for key in SCALARS}
    for key in NAME_LISTS:
        raw[key] = _names(form.get(key))
    for key in TIMES:
        raw[key] = kept(form.get(key), form.get(f"{key}-{STORED}"), tz)
    for key in SECTIONS:
        raw[key] = form.get(key) or ""
    timeline = _rows(form, "timeline", LIST_FIELDS["timeline"], (f"at-{STORED}",))
    raw["timeline"] = [
        {
            "at": kept(r["at"], r[f"at-{STORED}"], tz),
            "text": r["text"],
            "source": r["source"] or None,
        }
        for r in timeline
    ]
    raw["contributing_factors"] = [
        {"text": r["text"], "category": r["category"] or None}
        for r in _rows(form, "factor", LIST_FIELDS["contributing_factors"])
    ]
    raw["action_items"] = [
        {
            "title": r["title"],
            "owner": r["owner"] or None,
            "due": r["due"] or None,
            "status": r["status"] or "open",
            "url": r["url"] or None,
            "factor": _factor(r["factor"]),
            "risk": _number(r["risk"]),
        }
        for r in _rows(form, "action", LIST_FIELDS["action_items"])
    ]
    raw["risks"] = [
        {key: r[key] or None for key in LIST_FIELDS["risks"]}
        for r in _rows(form, "risk", LIST_FIELDS["risks"])
    ]
    raw["foreseen"] = [
        {"risk": _number(r["risk"]), "materialised": r["materialised"], "note": r["note"] or None}
        for r in _rows(form, "foreseen", ("materialised", "note"), ("risk",))
        if r["materialised"]  # "not said": no row
    ]
    # Answers about the risks of the pre-mortem the form listed, not of one named since.
    listed = (form.get("foreseen-for") or "").lower()
    if not raw.get("premortem") or raw["premortem"].lower() != listed:
        raw["foreseen"] = []
    raw["links"] = [
        {"title": r["title"] or None, "url": r["url"]}
        for r in _rows(form, "link", LIST_FIELDS["links"])
    ]
    return raw


PREFIXES = {
    "timeline": "timeline",
    "contributing_factors": "factor",
    "risks": "risk",
    "foreseen": "foreseen",
    "action_items": "action",
    "links": "link",
}
LIST_LABELS = {
    "timeline": "Timeline entry",
    "contributing_factors": "Contributing factor",
    "risks": "Risk",
    "foreseen": "Foreseen risk",
    "action_items": "Action item",
    "links": "Link",
}
KEY_LABELS = {"at": "time", "url": "address", "factor": "factor #", "risk": "risk #"}
FIELD_LABELS = {
    "planned_at": "Planned for",
    "premortem": "Pre-mortem",
    "trigger": "Kind of change",
    "started_at": "Started",
    "detected_at": "Detected",
    "mitigated_at": "Mitigated",
    "resolved_at": "Resolved",
    "published_at": "Published",
    "readers": "Also readable by",
}
PATH_RE = re.compile(r"^(\w+)(?:\[(\d+)\](?:\.(\w+))?)?$")


def label(path):
    """A document path as the page names it: contributing_factors[3].category ->
    "Contributing factor 4, category" (the page counts from 1)."""
    match = PATH_RE.match(path)
    if match is None:
        return path
    field, index, key = match.groups()
    if field in LIST_LABELS and index is not None:
        name = f"{LIST_LABELS[field]} {int(index) + 1}"
        return f"{name}, {KEY_LABELS.get(key, key)}" if key else name
    name = FIELD_LABELS.get(field, field.replace("_", " ").capitalize())
    return f"{name}, entry {int(index) + 1}" if index is not None else name


def input_name(form, path):
    """The name of the form input that holds a document path (rows keep their form number)."""
    match = PATH_RE.match(path)
    if match is None:
        return None
    field, index, key = match.groups()
    if field not in PREFIXES:
        return field
    if index is None:
        return None
    prefix = PREFIXES[field]
    indices = [i for i, _row in _indexed_rows(form, prefix, LIST_FIELDS[field])]
    if int(index) >= len(indices):
        return None
    return f"{prefix}-{indices[int(index)]}-{key}" if key else f"{prefix}-{indices[int(index)]}"


def layout(doc, tz, extra_rows=None):
    """A document as the form shows it: times in zone `tz`, lists as rows (plus blanks)."""
    extra_rows = extra_rows or {}
    view = {key: doc.get(key) for key in (*SCALARS, *SECTIONS)}
    for key in NAME_LISTS:
        view[key] = ", ".join(doc.get(key) or [])
    for key in TIMESTAMPS:
        view[key] = to_local(doc.get(key), tz)
        view[f"{key}-{STORED}"] = doc.get(key) or ""
    view["timeline"] = [
        {**e, "at": to_local(e.get("at"), tz), f"at-{STORED}": e.get("at") or ""}
        for e in doc.get("timeline") or []
    ]
    view["contributing_factors"] = list(doc.get("contributing_factors") or [])
    view["action_items"] = [
        {**a, "factor": "" if a.get("factor") is None else a["factor"] + 1}
        for a in doc.get("action_items") or []
    ]
    view["risks"] = list(doc.get("risks") or [])
    view["foreseen"] = list(doc.get("foreseen") or [])
    view["links"] = list(doc.get("links") or [])
    for key, count in extra_rows.items():
        view[key] = view[key] + [{} for _ in range(count)]
    return view


def add_risk(raw, value):
    """`raw` with one more risk, from an "Add as risk" button of the radar without script:
    its value is the risk's source and text, separated by a tab."""
    source, _tab, text = (value or "").partition("\t")
    if not _tab:
        source, text = "", source
    risk = dict.fromkeys(LIST_FIELDS["risks"]) | {
        "text": text.strip() or None,
        "source": " ".join(source.split()) or None,
    }
    return {**raw, "risks": [*(raw.get("risks") or []), risk]}
