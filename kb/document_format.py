"""The fields of the postmortem document format, version 1, written once.

`DOCUMENT` is the one table of the format's fields, in the document's order. Validation
(kb/document.py), the API's OpenAPI schema, the editor's form, the diff and the search index
take their field lists from it: a field is added or changed here and nowhere else.
"""

import re
from dataclasses import dataclass

from kb.models import (
    ACTION_STATUSES,
    DECISIONS,
    KINDS,
    LEVELS,
    SECTIONS,
    SEVERITIES,
    STATUSES,
    TIMESTAMPS,
    TRIGGERS,
    VISIBILITIES,
)

FORMAT = "hindsight/postmortem@1"
# Refs as organisations write them (INC-123, OPS-4521, 2024-03-01-db-outage): case is kept,
# and two refs that differ only in case name the same postmortem. Generated refs are INC-<year>-NNN.
REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
REF_HINT = "1 to 64 letters, digits, '.', '_' and '-', starting with a letter or a digit"
# An author is an e-mail address or a person's name as written (linked to a user at save
# when it is the user's e-mail or display name).
AUTHOR_RE = re.compile(
    r"^(?=.*\w)[^\x00-\x1f<>@]{1,100}$|^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$"
)
AUTHOR_HINT = "e-mail addresses or people's names (at most 100 characters, no @ < >)"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,59}$")
NAME_HINT = "a name of letters a-z, digits, '-', '.' and '_', at most 60 characters"
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$")
EMAIL_HINT = "e-mail addresses"
URL_RE = re.compile(r"^https?://[^\s]{1,1990}$", re.IGNORECASE)
DATE_TIME_HINT = "a date and time with a time zone, such as 2026-03-02T09:14:00Z"
SECTION_MAX = 50_000
MATERIALISED = ("yes", "no")  # whether a foreseen risk happened


@dataclass(frozen=True)
class Field:
    """One field of the document (or of a row of one of its lists).

    kind: text | choice | names | time | date | url | name | integer | rows.
    """

    name: str
    kind: str
    choices: tuple = ()  # choice: the allowed values
    default: object = None  # choice: the value when left out
    nullable: bool = True  # the canonical document may hold null here
    min_len: int = 0  # text: always checked (drafts too)
    max_len: int | None = None  # text
    one_line: bool = False  # text
    limit: int | None = None  # names, rows: the most entries
    emails: bool = False  # names: e-mail addresses, else names (NAME_RE, normalised)
    columns: tuple = ()  # rows: the fields of one row
    example: str | None = None


def _choice(name, choices, default, nullable=False):
    return Field(name, "choice", choices=choices, default=default, nullable=nullable)


DOCUMENT = (
    _choice("format", (FORMAT,), FORMAT),
    Field("ref", "text", example="INC-2026-014"),
    Field("title", "text", nullable=False, min_len=3, max_len=200, one_line=True),
    _choice("kind", KINDS, "incident"),
    _choice("status", STATUSES, "draft"),
    _choice("severity", SEVERITIES, None, nullable=True),
    _choice("visibility", VISIBILITIES, "internal"),
    Field("readers", "names", nullable=False, limit=50, emails=True),
    Field("authors", "names", nullable=False, limit=20, emails=True),
    Field("teams", "names", nullable=False, limit=30),
    Field("services", "names", nullable=False, limit=30),
    Field("tags", "names", nullable=False, limit=30),
    _choice("trigger", TRIGGERS, "unknown"),
    _choice("decision", DECISIONS, None, nullable=True),  # a pre-mortem's
    # An incident's, near miss's or game day's: the ref of the pre-mortem of its change.
    Field("premortem", "text", max_len=64, one_line=True, example="PM-2026-003"),
    *(Field(name, "time") for name in TIMESTAMPS),
    *(Field(name, "text", nullable=False, max_len=SECTION_MAX) for name in SECTIONS),
    Field(
        "timeline",
        "rows",
        nullable=False,
        limit=500,
        columns=(
            Field("at", "time"),
            Field("text", "text", nullable=False, max_len=2000),
            Field("source", "text", max_len=100, one_line=True),
        ),
    ),
    Field(
        "contributing_factors",
        "rows",
        nullable=False,
        limit=50,
        columns=(
            Field("text", "text", nullable=False, max_len=2000),
            Field("category", "name"),
        ),
    ),
    Field(
        "risks",  # a pre-mortem's: "Imagine it failed: how?"
        "rows",
        nullable=False,
        limit=50,
        columns=(
            Field("text", "text", nullable=False, max_len=2000),
            _choice("likelihood", LEVELS, None, nullable=True),
            _choice("impact", LEVELS, None, nullable=True),
            Field("mitigation", "text", max_len=2000),
            Field("owner", "text", max_len=254, one_line=True),
            Field("signals", "text", max_len=2000),
            Field("source", "text", max_len=300, one_line=True),
        ),
    ),
    Field(
        "foreseen",  # per risk of the named pre-mortem: whether it materialised
        "rows",
        nullable=False,
        limit=50,
        columns=(
            Field("risk", "integer", nullable=False),
            _choice("materialised", MATERIALISED, "yes"),
            Field("note", "text", max_len=500, one_line=True),
        ),
    ),
    Field(
        "action_items",
        "rows",
        nullable=False,
        limit=100,
        columns=(
            Field("title", "text", nullable=False, max_len=300, one_line=True),
            Field("owner", "text", max_len=254, one_line=True),
            Field("due", "date"),
            _choice("status", ACTION_STATUSES, "open"),
            Field("url", "url"),
            Field("factor", "integer"),
            Field("risk", "integer"),  # a pre-mortem's risk (from 1) it mitigates
        ),
    ),
    Field(
        "links",
        "rows",
        nullable=False,
        limit=50,
        columns=(Field("title", "text", max_len=300, one_line=True), Field("url", "url")),
    ),
)

BY_NAME = {f.name: f for f in DOCUMENT}
FIELDS = tuple(f.name for f in DOCUMENT)  # every key of a document, in order
CHOICES = tuple(f.name for f in DOCUMENT if f.kind == "choice" and f.name != "format")
LABEL_FIELDS = tuple(f.name for f in DOCUMENT if f.kind == "names")  # stored as Label rows
EMAIL_FIELDS = tuple(f.name for f in DOCUMENT if f.kind == "names" and f.emails)
NAME_FIELDS = tuple(f.name for f in DOCUMENT if f.kind == "names" and not f.emails)
LIST_LIMITS = {f.name: f.limit for f in DOCUMENT if f.kind == "names"}
ROWS = {f.name: tuple(c.name for c in f.columns) for f in DOCUMENT if f.kind == "rows"}
ROW_LIMITS = {f.name: f.limit for f in DOCUMENT if f.kind == "rows"}
# The one-value fields a person edits (title and the choices) and those stored as columns.
EDITED_SCALARS = ("title", *(name for name in CHOICES if name != "status"), "premortem")
SCALARS = (
    "title",
    *CHOICES,
    "premortem",
    *TIMESTAMPS,
)  # one value each, compared and listed as they are
COLUMNS = (*SCALARS, *SECTIONS)  # the document's fields that are Postmortem columns


def json_schema(field):
    """The JSON schema (OpenAPI 3.0 dialect) of one field."""
    if field.kind == "choice":
        schema = {"type": "string", "enum": list(field.choices)}
    elif field.kind == "names":
        schema = {"type": "array", "items": {"type": "string"}}
    elif field.kind == "time":
        schema = {"type": "string", "format": "date-time"}
    elif field.kind == "date":
        schema = {"type": "string", "format": "date"}
    elif field.kind == "integer":
        schema = {"type": "integer"}
    elif field.kind == "rows":
        schema = {"type": "array", "items": object_schema(field.columns)}
    else:  # text, url, name
        schema = {"type": "string"}
        if field.min_len:
            schema["minLength"] = field.min_len
        if field.max_len:
            schema["maxLength"] = field.max_len
    if field.nullable:
        schema["nullable"] = True
    if field.example:
        schema["example"] = field.example
    return schema


def object_schema(fields):
    """The JSON schema of an object holding `fields`."""
    return {"type": "object", "properties": {f.name: json_schema(f) for f in fields}}


def document_schema():
    """The JSON schema of a whole document (docs/document-format.md says the same in words)."""
    return {
        **object_schema(DOCUMENT),
        "description": "A postmortem in the document format v1 (docs/document-format.md).",
        "required": [f.name for f in DOCUMENT if f.min_len],
        "additionalProperties": False,
    }
