"""The checks of one value of a document, each naming the field in plain words on failure.

kb/document.py reads a whole document with them; the messages are the ones a person sees
(in the editor, from `kb import` and from the API), so they say what a field must be and
what it was.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from kb.document_format import DATE_TIME_HINT, SECTION_MAX, URL_RE


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def __str__(self):
        return f"{self.field}: {self.message}"


def choices(values):
    """Allowed values as a person reads them."""
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
    if value is None:
        return None
    # Not strftime: its %Y leaves years before 1000 unpadded ("54-10-26"), which no parser
    # reads back.
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


class Checker:
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
            self.error(path, f"must be text, not {type_name(value)}")
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
            self.error(field, f"must be one of {choices(allowed)} (got {show(value)})")
            return default
        return value

    def names(self, doc, field, *, pattern, what, limit, normalise=None):
        value = doc.get(field)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(field, f"must be a list of {what}, not {type_name(value)}")
            return []
        if len(value) > limit:
            self.error(field, f"must have at most {limit} entries (got {len(value)})")
            return []
        result = []
        for i, item in enumerate(value):
            if normalise and isinstance(item, str):
                item = normalise(item)
            if not isinstance(item, str) or len(item) > 254 or not pattern.match(item.strip()):
                self.error(f"{field}[{i}]", f"must be {what} (got {show(item)})")
                continue
            item = item.strip()
            if item in result:
                self.error(f"{field}[{i}]", f"{show(item)} is listed twice")
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
            self.error(field, f"must be {DATE_TIME_HINT} (got {show(value)})")
        return parsed

    def items(self, doc, field, limit):
        value = doc.get(field)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(field, f"must be a list, not {type_name(value)}")
            return []
        if len(value) > limit:
            self.error(field, f"must have at most {limit} entries (got {len(value)})")
            return []
        good = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.error(f"{field}[{i}]", f"must be an object, not {type_name(item)}")
            else:
                good.append((i, item))
        return good

    def unknown_keys(self, item, allowed, where):
        for key in item:
            if key not in allowed:
                self.error(f"{where}.{key}" if where else key, "is not a field of this format")

    def url(self, value, field, required=False):
        if value in (None, ""):
            if required:
                self.error(field, "is required")
            return None
        if not isinstance(value, str) or not URL_RE.match(value.strip()):
            self.error(field, f"must be an http:// or https:// address (got {show(value)})")
            return None
        return value.strip()


def type_name(value):
    """What kind of JSON value `value` is, in words."""
    return {
        list: "a list",
        dict: "an object",
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "text",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def show(value):
    """A value quoted for a message, cut to 60 characters."""
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 60 else text[:57] + '..."'


def unstorable_text(value, path=""):
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
            yield from unstorable_text(key, path or "document")
            yield from unstorable_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from unstorable_text(item, f"{path}[{i}]")


def premortem_errors(session, doc, user, current=None):
    """The problems with the pre-mortem a document names (`premortem`) and its `foreseen` risks.

    The ref must name a pre-mortem `user` may read (one they may not read is answered as one
    that does not exist: its ref is not confirmed), other than the document itself, and each
    foreseen risk must be one of its risks. Unchanged from `current` (the stored document),
    nothing is checked: a link saved by someone who could read the pre-mortem stays.
    """
    from sqlalchemy import func
    from sqlmodel import select

    from kb.accounts import visibility_filter
    from kb.models import Postmortem

    ref, foreseen = doc.get("premortem"), doc.get("foreseen") or []
    if current is not None and (ref, foreseen) == (current["premortem"], current["foreseen"]):
        return []
    if not ref:
        return []
    if doc.get("ref") and ref.lower() == doc["ref"].lower():
        return [FieldError("premortem", "names this document itself, not a pre-mortem")]
    with session.no_autoflush:
        covering = session.exec(
            select(Postmortem).where(
                func.lower(Postmortem.ref) == ref.lower(),
                Postmortem.kind == "pre-mortem",
                visibility_filter(user),
            )
        ).first()
    if covering is None:
        # Not echoed: the ref may come from an old revision rather than from the writer.
        return [FieldError("premortem", "names no pre-mortem you may read")]
    count = len(covering.risks)
    return [
        FieldError(
            f"foreseen[{i}].risk",
            f"{covering.ref} has no risk {row['risk']} (it lists {count})",
        )
        for i, row in enumerate(foreseen)
        if row["risk"] > count
    ]
