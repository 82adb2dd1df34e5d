"""The postmortem document format, version 1: validation, and conversion to and from rows.

See docs/document-format.md. The fields are defined once, in kb/document_format.py.
`validate` turns untrusted input into a clean document or raises DocumentError listing every
problem; `to_document` gives the canonical form of a stored postmortem, the one that export
writes and the API returns.
"""

from datetime import date

from kb import document_risks
from kb.document_checks import (
    Checker,
    FieldError,
    choices,
    format_datetime,
    parse_datetime,
    show,
    unstorable_text,
)
from kb.document_format import (
    AUTHOR_HINT,
    AUTHOR_RE,
    BY_NAME,
    CHOICES,
    DATE_TIME_HINT,
    DOCUMENT,
    EMAIL_FIELDS,
    EMAIL_HINT,
    EMAIL_RE,
    FIELDS,
    FORMAT,
    LABEL_FIELDS,
    LIST_LIMITS,
    NAME_FIELDS,
    NAME_HINT,
    NAME_RE,
    REF_HINT,
    REF_RE,
    ROW_LIMITS,
    ROWS,
)
from kb.models import ACTION_STATUSES, SECTIONS, TIMESTAMPS

COLUMNS = {f.name: {c.name: c for c in f.columns} for f in DOCUMENT if f.kind == "rows"}

__all__ = [
    "FIELDS",
    "FORMAT",
    "LIST_LIMITS",
    "DocumentError",
    "FieldError",
    "canonical",
    "format_datetime",
    "normalise_name",
    "parse_datetime",
    "to_document",
    "validate",
]


class DocumentError(ValueError):
    """A document that does not follow the format; `errors` lists every problem."""

    def __init__(self, errors, ref=None):
        self.errors = list(errors)
        self.ref = ref
        super().__init__("; ".join(str(e) for e in self.errors))


def normalise_name(value):
    """A team, service, tag or category as stored: `Change Management` -> `change-management`.

    Lowercase, with each run of spaces as one '-'. Anything else NAME_RE refuses stays an
    error: guessing at other characters would merge names people meant to keep apart.
    """
    return "-".join(value.lower().split())


def validate(raw):
    """Check a document against format v1; return the clean document or raise DocumentError.

    A draft may be incomplete: required parts of timeline entries, factors, action items and
    links, and the order of the incident's times, are checked once it is in review or
    published (see docs/document-format.md). A value no draft may hold either (a time that
    is not a time, a name with a '/') is an error in every status.
    """
    if not isinstance(raw, dict):
        raise DocumentError([FieldError("document", "must be a JSON object")])
    c = Checker()
    ref_hint = raw.get("ref") if isinstance(raw.get("ref"), str) else None
    for path, problem in unstorable_text(raw):
        c.error(path, problem)
    if c.errors:
        raise DocumentError(c.errors, ref=ref_hint)
    c.unknown_keys(raw, FIELDS, "")
    if raw.get("format") not in (None, FORMAT):
        c.error("format", f'must be "{FORMAT}" (got {show(raw.get("format"))})')

    doc = {}
    ref = raw.get("ref")
    if ref in (None, ""):
        doc["ref"] = None
    elif not isinstance(ref, str) or not REF_RE.match(ref.strip()):
        c.error("ref", f"must be {REF_HINT}, such as INC-123 (got {show(ref)})")
        doc["ref"] = None
    else:
        doc["ref"] = ref.strip()
    title = BY_NAME["title"]
    doc["title"] = c.text(
        raw,
        "title",
        required=True,
        min_len=title.min_len,
        max_len=title.max_len,
        one_line=title.one_line,
    )
    for field in CHOICES:
        doc[field] = c.choice(raw, field, BY_NAME[field].choices, BY_NAME[field].default)
    for field in EMAIL_FIELDS:
        pattern, hint = (AUTHOR_RE, AUTHOR_HINT) if field == "authors" else (EMAIL_RE, EMAIL_HINT)
        doc[field] = c.names(raw, field, pattern=pattern, what=hint, limit=LIST_LIMITS[field])
    for field in NAME_FIELDS:
        doc[field] = c.names(
            raw,
            field,
            pattern=NAME_RE,
            what=NAME_HINT,
            limit=LIST_LIMITS[field],
            normalise=normalise_name,
        )

    formal = doc["status"] in ("in-review", "published")
    # A pre-mortem is written before anything happened: no start, no severity; its planned
    # change stands where an incident's summary does.
    incident = doc["kind"] != "pre-mortem"
    for field in TIMESTAMPS:
        required = (field == "started_at" and formal and incident) or (
            field == "published_at" and doc["status"] == "published"
        )
        doc[field] = c.timestamp(raw, field, required=required)
    if (
        formal
        and incident
        and doc["severity"] is None
        and "severity" not in {e.field for e in c.errors}
    ):
        c.error("severity", f"is required once a postmortem is {doc['status']}")
    if formal:
        _check_order(c, doc)

    essential = "summary" if incident else "change"
    for field in SECTIONS:
        required = field == essential and doc["status"] == "published"
        doc[field] = c.text(raw, field, required=required, max_len=BY_NAME[field].max_len) or ""

    doc["timeline"] = _timeline(c, raw, formal)
    doc["contributing_factors"] = _factors(c, raw, formal)
    document_risks.read(c, raw, doc, formal)
    doc["action_items"] = _action_items(
        c, raw, len(doc["contributing_factors"]), len(doc["risks"]), formal
    )
    doc["links"] = _links(c, raw, formal)

    if c.errors:
        raise DocumentError(c.errors, ref=ref_hint)
    return doc


def _check_order(c, doc):
    ordered = ("started_at", "detected_at", "mitigated_at", "resolved_at")
    seen = [(f, doc[f]) for f in ordered if doc.get(f) is not None]
    for (earlier, a), (later, b) in zip(seen, seen[1:], strict=False):
        if b < a:
            c.error(later, f"must not be before {earlier}")
    if (
        doc.get("published_at")
        and doc.get("started_at")
        and doc["published_at"] < doc["started_at"]
    ):
        c.error("published_at", "must not be before started_at")


def _cell(c, item, rows, key, where, **rules):
    """A text cell of a row, checked against its column of the format."""
    column = COLUMNS[rows][key]
    return c.text(item, key, where=where, max_len=column.max_len, one_line=column.one_line, **rules)


def _timeline(c, raw, formal):
    entries = []
    for i, item in c.items(raw, "timeline", ROW_LIMITS["timeline"]):
        where = f"timeline[{i}]"
        c.unknown_keys(item, ROWS["timeline"], where)
        at = parse_datetime(item.get("at"))
        if at is None and (formal or item.get("at") not in (None, "")):
            c.error(f"{where}.at", f"must be {DATE_TIME_HINT} (got {show(item.get('at'))})")
        text = _cell(c, item, "timeline", "text", where, required=formal, min_len=1)
        source = _cell(c, item, "timeline", "source", where)
        entries.append({"at": format_datetime(at), "text": text or "", "source": source})
    return entries


def _factors(c, raw, formal):
    factors = []
    for i, item in c.items(raw, "contributing_factors", ROW_LIMITS["contributing_factors"]):
        where = f"contributing_factors[{i}]"
        c.unknown_keys(item, ROWS["contributing_factors"], where)
        text = _cell(
            c, item, "contributing_factors", "text", where, required=formal, min_len=3 * formal
        )
        category = item.get("category")
        if isinstance(category, str):
            category = normalise_name(category)
        if category in (None, ""):
            category = None
        elif not isinstance(category, str) or not NAME_RE.match(category):
            c.error(f"{where}.category", f"must be {NAME_HINT} (got {show(item['category'])})")
            category = None
        else:
            category = category.strip()
        factors.append({"text": text or "", "category": category})
    return factors


def _action_items(c, raw, factor_count, risk_count, formal):
    actions = []
    for i, item in c.items(raw, "action_items", ROW_LIMITS["action_items"]):
        where = f"action_items[{i}]"
        c.unknown_keys(item, ROWS["action_items"], where)
        title = _cell(c, item, "action_items", "title", where, required=formal, min_len=3 * formal)
        owner = _cell(c, item, "action_items", "owner", where)
        due = item.get("due")
        if due in (None, ""):
            due = None
        else:
            try:
                due = date.fromisoformat(due).isoformat() if isinstance(due, str) else None
            except ValueError:
                due = None
            if due is None:
                c.error(
                    f"{where}.due", f"must be a date such as 2026-04-15 (got {show(item['due'])})"
                )
        status = item.get("status") or "open"
        if status not in ACTION_STATUSES:
            c.error(
                f"{where}.status",
                f"must be one of {choices(ACTION_STATUSES)} (got {show(status)})",
            )
            status = "open"
        url = c.url(item.get("url"), f"{where}.url")
        factor = item.get("factor")
        if factor is not None and (
            isinstance(factor, bool)
            or not isinstance(factor, int)
            or not 0 <= factor < factor_count
        ):
            if factor_count:
                limit = f"from 0 to {factor_count - 1}"
                c.error(f"{where}.factor", f"must be the index of a contributing factor, {limit}")
            else:
                c.error(f"{where}.factor", "points at a contributing factor, but there are none")
            factor = None
        risk = document_risks.check_action_risk(c, item, where, risk_count)
        actions.append(
            {
                "title": title or "",
                "owner": owner,
                "due": due,
                "status": status,
                "url": url,
                "factor": factor,
                "risk": risk,
            }
        )
    return actions


def _links(c, raw, formal):
    links = []
    for i, item in c.items(raw, "links", ROW_LIMITS["links"]):
        where = f"links[{i}]"
        c.unknown_keys(item, ROWS["links"], where)
        title = _cell(c, item, "links", "title", where)
        url = c.url(item.get("url"), f"{where}.url", required=formal)
        links.append({"title": title or url or "", "url": url})
    return links


def canonical(doc):
    """The canonical form of a validated document: the one export writes, byte for byte."""
    out = {"format": FORMAT}
    for field in DOCUMENT[1:]:
        value = doc[field.name]
        if field.kind == "names":
            value = list(value)
        elif field.kind == "time":
            value = format_datetime(value)
        elif field.kind == "rows":
            value = [{key: row.get(key) for key in ROWS[field.name]} for row in value]
        out[field.name] = value
    return out


def to_document(pm):
    """The canonical document of a stored postmortem."""
    doc = {
        key: getattr(pm, key)
        for key in ("ref", "title", *CHOICES, "premortem", *TIMESTAMPS, *SECTIONS)
    }
    for key in LABEL_FIELDS:
        doc[key] = pm.label_values(key)
    doc["timeline"] = pm.timeline
    doc["links"] = pm.links
    doc["risks"] = pm.risks
    doc["foreseen"] = pm.foreseen
    doc["contributing_factors"] = [{"text": f.text, "category": f.category} for f in pm.factors]
    doc["action_items"] = [
        {
            "title": a.title,
            "owner": a.owner,
            "due": a.due.isoformat() if a.due else None,
            "status": a.status,
            "url": a.url,
            "factor": a.factor,
            "risk": a.risk,
        }
        for a in pm.action_items
    ]
    return canonical(doc)
