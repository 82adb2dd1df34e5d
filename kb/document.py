"""The postmortem document format, version 1: validation, and conversion to and from rows.

See docs/document-format.md. `validate` turns untrusted input into a clean document or raises
DocumentError listing every problem; `to_document` gives the canonical form of a stored
postmortem, the one that export writes and the API returns.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from kb.models import (
    ACTION_STATUSES,
    KINDS,
    SECTIONS,
    SEVERITIES,
    STATUSES,
    TIMESTAMPS,
    TRIGGERS,
    VISIBILITIES,
)

FORMAT = "hindsight/postmortem@1"
REF_RE = re.compile(r"^[A-Z][A-Z0-9]{1,9}-[0-9]{4}-[0-9]{3,6}$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,59}$")
NAME_HINT = "a name of letters a-z, digits, '-', '.' and '_', at most 60 characters"
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$")
URL_RE = re.compile(r"^https?://[^\s]{1,1990}$", re.IGNORECASE)
DATE_TIME_HINT = "a date and time with a time zone, such as 2026-03-02T09:14:00Z"
SECTION_MAX = 50_000

FIELDS = (
    "format",
    "ref",
    "title",
    "kind",
    "status",
    "severity",
    "visibility",
    "readers",
    "authors",
    "teams",
    "services",
    "tags",
    "trigger",
    *TIMESTAMPS,
    *SECTIONS,
    "timeline",
    "contributing_factors",
    "action_items",
    "links",
)
LIST_LIMITS = {"readers": 50, "authors": 20, "teams": 30, "services": 30, "tags": 30}


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def __str__(self):
        return f"{self.field}: {self.message}"


class DocumentError(ValueError):
    """A document that does not follow the format; `errors` lists every problem."""

    def __init__(self, errors, ref=None):
        self.errors = list(errors)
        self.ref = ref
        super().__init__("; ".join(str(e) for e in self.errors))


def _choices(values):
    return ", ".join(values)


def parse_datetime(value):
    """Parse an ISO 8601 date-time that carries a time zone; return it in UTC, or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None or "T" not in text.upper():
        return None
    return parsed.astimezone(UTC).replace(microsecond=0)


def format_datetime(value):
    """A datetime in the document's form (UTC, to the second), or None."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Checker:
    """Collects errors while reading one document."""

    def __init__(self):
        self.errors = []

    def error(self, field, message):
        self.errors.append(FieldError(field, message))

    def text(
        self,
        doc,
        field,
        *,
        where="",
        required=False,
        min_len=0,
        max_len=SECTION_MAX,
        one_line=False,
    ):
        path = f"{where}.{field}" if where else field
        value = doc.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.error(path, "is required")
            return None
        if not isinstance(value, str):
            self.error(path, f"must be text, not {_type_name(value)}")
            return None
        value = value.strip()
        if len(value) < min_len:
            self.error(path, f"must be at least {min_len} characters long")
        elif len(value) > max_len:
            self.error(path, f"must be at most {max_len:,} characters long (got {len(value):,})")
        elif one_line and "\n" in value:
            self.error(path, "must fit on one line")
        return value

    def choice(self, doc, field, allowed, default=None):
        value = doc.get(field)
        if value in (None, ""):
            return default
        if value not in allowed:
            self.error(field, f"must be one of {_choices(allowed)} (got {_show(value)})")
            return default
        return value

    def names(self, doc, field, *, pattern, what, limit, normalise=None):
        value = doc.get(field)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(field, f"must be a list of {what}, not {_type_name(value)}")
            return []
        if len(value) > limit:
            self.error(field, f"must have at most {limit} entries (got {len(value)})")
            return []
        result = []
        for i, item in enumerate(value):
            if normalise and isinstance(item, str):
                item = normalise(item)
            if not isinstance(item, str) or len(item) > 254 or not pattern.match(item.strip()):
                self.error(f"{field}[{i}]", f"must be {what} (got {_show(item)})")
                continue
            item = item.strip()
            if item in result:
                self.error(f"{field}[{i}]", f"{_show(item)} is listed twice")
                continue
            result.append(item)
        return result

    def timestamp(self, doc, field, *, required=False):
        value = doc.get(field)
        if value in (None, ""):
            if required:
                self.error(field, "is required")
            return None
        parsed = parse_datetime(value)
        if parsed is None:
            self.error(field, f"must be {DATE_TIME_HINT} (got {_show(value)})")
        return parsed

    def items(self, doc, field, limit):
        value = doc.get(field)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(field, f"must be a list, not {_type_name(value)}")
            return []
        if len(value) > limit:
            self.error(field, f"must have at most {limit} entries (got {len(value)})")
            return []
        good = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.error(f"{field}[{i}]", f"must be an object, not {_type_name(item)}")
            else:
                good.append((i, item))
        return good

    def unknown_keys(self, item, allowed, where):
        for key in item:
            if key not in allowed:
                self.error(f"{where}.{key}" if where else key, "is not a field of this format")


def _type_name(value):
    return {
        list: "a list",
        dict: "an object",
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "text",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _show(value):
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 60 else text[:57] + '..."'


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
    c = _Checker()
    ref_hint = raw.get("ref") if isinstance(raw.get("ref"), str) else None
    for path, problem in _unstorable_text(raw):
        c.error(path, problem)
    if c.errors:
        raise DocumentError(c.errors, ref=ref_hint)
    c.unknown_keys(raw, FIELDS, "")
    if raw.get("format") not in (None, FORMAT):
        c.error("format", f'must be "{FORMAT}" (got {_show(raw.get("format"))})')

    doc = {}
    ref = raw.get("ref")
    if ref in (None, ""):
        doc["ref"] = None
    elif not isinstance(ref, str) or not REF_RE.match(ref.strip()):
        c.error("ref", f"must look like INC-2026-014 (got {_show(ref)})")
        doc["ref"] = None
    else:
        doc["ref"] = ref.strip()
    doc["title"] = c.text(raw, "title", required=True, min_len=3, max_len=200, one_line=True)
    doc["kind"] = c.choice(raw, "kind", KINDS, "incident")
    doc["status"] = c.choice(raw, "status", STATUSES, "draft")
    doc["severity"] = c.choice(raw, "severity", SEVERITIES, None)
    doc["visibility"] = c.choice(raw, "visibility", VISIBILITIES, "internal")
    doc["trigger"] = c.choice(raw, "trigger", TRIGGERS, "unknown")
    for field in ("readers", "authors"):
        doc[field] = c.names(
            raw, field, pattern=EMAIL_RE, what="e-mail addresses", limit=LIST_LIMITS[field]
        )
    for field in ("teams", "services", "tags"):
        doc[field] = c.names(
            raw,
            field,
            pattern=NAME_RE,
            what=NAME_HINT,
            limit=LIST_LIMITS[field],
            normalise=normalise_name,
        )

    formal = doc["status"] in ("in-review", "published")
    for field in TIMESTAMPS:
        required = (field == "started_at" and formal) or (
            field == "published_at" and doc["status"] == "published"
        )
        doc[field] = c.timestamp(raw, field, required=required)
    if formal and doc["severity"] is None and "severity" not in {e.field for e in c.errors}:
        c.error("severity", f"is required once a postmortem is {doc['status']}")
    if formal:
        _check_order(c, doc)

    for field in SECTIONS:
        required = field == "summary" and doc["status"] == "published"
        doc[field] = c.text(raw, field, required=required) or ""

    doc["timeline"] = _timeline(c, raw, formal)
    doc["contributing_factors"] = _factors(c, raw, formal)
    doc["action_items"] = _action_items(c, raw, len(doc["contributing_factors"]), formal)
    doc["links"] = _links(c, raw, formal)

    if c.errors:
        raise DocumentError(c.errors, ref=ref_hint)
    return doc


def _unstorable_text(value, path=""):
    """Text no database can store faithfully: NUL characters and lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path or "document", "contains a NUL character"
        else:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                yield path or "document", "contains characters that are not valid Unicode"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unstorable_text(key, path or "document")
            yield from _unstorable_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _unstorable_text(item, f"{path}[{i}]")


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


def _timeline(c, raw, formal):
    entries = []
    for i, item in c.items(raw, "timeline", 500):
        where = f"timeline[{i}]"
        c.unknown_keys(item, ("at", "text", "source"), where)
        at = parse_datetime(item.get("at"))
        if at is None and (formal or item.get("at") not in (None, "")):
            c.error(f"{where}.at", f"must be {DATE_TIME_HINT} (got {_show(item.get('at'))})")
        text = c.text(item, "text", where=where, required=formal, min_len=1, max_len=2000)
        source = c.text(item, "source", where=where, max_len=100, one_line=True)
        entries.append({"at": format_datetime(at), "text": text or "", "source": source})
    return entries


def _factors(c, raw, formal):
    factors = []
    for i, item in c.items(raw, "contributing_factors", 50):
        where = f"contributing_factors[{i}]"
        c.unknown_keys(item, ("text", "category"), where)
        text = c.text(
            item, "text", where=where, required=formal, min_len=3 if formal else 0, max_len=2000
        )
        category = item.get("category")
        if isinstance(category, str):
            category = normalise_name(category)
        if category in (None, ""):
            category = None
        elif not isinstance(category, str) or not NAME_RE.match(category):
            c.error(f"{where}.category", f"must be {NAME_HINT} (got {_show(item['category'])})")
            category = None
        else:
            category = category.strip()
        factors.append({"text": text or "", "category": category})
    return factors


def _action_items(c, raw, factor_count, formal):
    actions = []
    for i, item in c.items(raw, "action_items", 100):
        where = f"action_items[{i}]"
        c.unknown_keys(item, ("title", "owner", "due", "status", "url", "factor"), where)
        title = c.text(
            item,
            "title",
            where=where,
            required=formal,
            min_len=3 if formal else 0,
            max_len=300,
            one_line=True,
        )
        owner = c.text(item, "owner", where=where, max_len=254, one_line=True)
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
                    f"{where}.due", f"must be a date such as 2026-04-15 (got {_show(item['due'])})"
                )
        status = item.get("status") or "open"
        if status not in ACTION_STATUSES:
            c.error(
                f"{where}.status",
                f"must be one of {_choices(ACTION_STATUSES)} (got {_show(status)})",
            )
            status = "open"
        url = _url(c, item.get("url"), f"{where}.url")
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
        actions.append(
            {
                "title": title or "",
                "owner": owner,
                "due": due,
                "status": status,
                "url": url,
                "factor": factor,
            }
        )
    return actions


def _links(c, raw, formal):
    links = []
    for i, item in c.items(raw, "links", 50):
        where = f"links[{i}]"
        c.unknown_keys(item, ("title", "url"), where)
        title = c.text(item, "title", where=where, max_len=300, one_line=True)
        url = _url(c, item.get("url"), f"{where}.url", required=formal)
        links.append({"title": title or url or "", "url": url})
    return links


def _url(c, value, field, required=False):
    if value in (None, ""):
        if required:
            c.error(field, "is required")
        return None
    if not isinstance(value, str) or not URL_RE.match(value.strip()):
        c.error(field, f"must be an http:// or https:// address (got {_show(value)})")
        return None
    return value.strip()


def canonical(doc):
    """The canonical form of a validated document: the one export writes, byte for byte."""
    out = {"format": FORMAT}
    for key in ("ref", "title", "kind", "status", "severity", "visibility"):
        out[key] = doc[key]
    for key in ("readers", "authors", "teams", "services", "tags"):
        out[key] = list(doc[key])
    out["trigger"] = doc["trigger"]
    for key in TIMESTAMPS:
        out[key] = format_datetime(doc[key])
    for key in SECTIONS:
        out[key] = doc[key]
    out["timeline"] = [
        {"at": e["at"], "text": e["text"], "source": e.get("source")} for e in doc["timeline"]
    ]
    out["contributing_factors"] = [
        {"text": f["text"], "category": f["category"]} for f in doc["contributing_factors"]
    ]
    out["action_items"] = [
        {key: a[key] for key in ("title", "owner", "due", "status", "url", "factor")}
        for a in doc["action_items"]
    ]
    out["links"] = [{"title": link["title"], "url": link["url"]} for link in doc["links"]]
    return out


def to_document(pm):
    """The canonical document of a stored postmortem."""
    doc = {key: getattr(pm, key) for key in ("ref", "title", "kind", "status", "severity")}
    doc["visibility"] = pm.visibility
    doc["trigger"] = pm.trigger
    for key in ("readers", "authors", "teams", "services", "tags"):
        doc[key] = pm.label_values(key)
    for key in (*TIMESTAMPS, *SECTIONS):
        doc[key] = getattr(pm, key)
    doc["timeline"] = pm.timeline
    doc["links"] = pm.links
    doc["contributing_factors"] = [{"text": f.text, "category": f.category} for f in pm.factors]
    doc["action_items"] = [
        {
            "title": a.title,
            "owner": a.owner,
            "due": a.due.isoformat() if a.due else None,
            "status": a.status,
            "url": a.url,
            "factor": a.factor,
        }
        for a in pm.action_items
    ]
    return canonical(doc)
