"""The OpenAPI description of the postmortem API (kb/web/api.py).

The document schemas derive from the format's one field table (kb/document_format.py) and
the list's query parameters from the declarations the endpoint reads them with.
"""

from kb import workflow
from kb.document_format import BY_NAME, document_schema, object_schema
from kb.web.api import LIST_FILTERS
from kb.web.openapi import JSON, error_responses, ok, path_parameter, ref

_NAMES = {"type": "array", "items": {"type": "string"}}
_TIME = {"type": "string", "format": "date-time", "nullable": True}
_REF = path_parameter("ref")
DOCUMENT_SCHEMA = document_schema()
_FIELDS = DOCUMENT_SCHEMA["properties"]


def _document(description=None, required=None, **properties):
    """The document's schema with some properties added or replaced."""
    schema = {**DOCUMENT_SCHEMA, "properties": {**_FIELDS, **properties}}
    if description:
        schema["description"] = description
    if required:
        schema["required"] = required
    return schema


_VERSION = {"type": "integer", "minimum": 1}
_SUMMARY_FIELDS = (
    "ref",
    "title",
    "kind",
    "status",
    "severity",
    "visibility",
    "services",
    "teams",
    "started_at",
    "published_at",
)

OPENAPI_SCHEMAS = {
    "Document": DOCUMENT_SCHEMA,
    "NewDocument": _document(
        "A new postmortem: always a draft. `status` may only be `draft` and `published_at` is "
        "left out (any other value is a 422 naming the field); it moves on through POST "
        "/api/v1/postmortems/{ref}/transitions. Published history is imported with `kb import`.",
        status={"type": "string", "enum": ["draft"]},
        published_at={
            **_TIME,
            "description": "Set when the postmortem is published; leave it out.",
        },
    ),
    "VersionedDocument": _document(version=_VERSION),
    "DocumentUpdate": _document(
        "The whole document as you edited it, with the `version` you edited. `status` and "
        "`published_at` are the current ones or left out (they change only through the "
        "transitions). `visibility`, and the authors, readers and teams of a restricted "
        "postmortem, are changed only by its authors and admins (403). A change to a published "
        "postmortem is an amendment: only its authors, the authors of its teams and admins make "
        "one (403), and `note` is required (422 naming `note`).",
        ["title", "version"],
        version=_VERSION,
        note={
            "type": "string",
            "maxLength": 200,
            "description": "What this amendment changed, for example `corrected the detection "
            "time`: required when the postmortem is published, shown on its page and in its "
            "history; ignored for drafts.",
        },
    ),
    "PostmortemSummary": {
        "type": "object",
        "properties": {
            **object_schema([BY_NAME[name] for name in _SUMMARY_FIELDS])["properties"],
            "version": _VERSION,
        },
    },
    "Revision": {
        "type": "object",
        "properties": {
            "number": {
                "type": "integer",
                "description": "The postmortem's version this revision holds",
            },
            "started_at": {
                **_TIME,
                "description": "When the first autosave folded into this revision was made",
            },
            "created_at": _TIME,
            "author": {"type": "string", "nullable": True},
            "note": {"type": "string"},
            "amendment": {
                "type": "string",
                "nullable": True,
                "description": "The note of an amendment to a published postmortem, else null",
            },
        },
    },
}
OPENAPI_SCHEMAS["RevisionWithDocument"] = {
    "type": "object",
    "properties": {
        **OPENAPI_SCHEMAS["Revision"]["properties"],
        "document": {"type": "object", "description": "The document as this revision holds it"},
    },
}


def _body(schema):
    return {"required": True, "content": {JSON: {"schema": schema}}}


OPENAPI_PATHS = {
    "/api/v1/me": {
        "get": {
            "summary": "Who the token or session belongs to",
            "responses": {
                "200": ok(
                    {
                        "type": "object",
                        "properties": {
                            "email": {"type": "string"},
                            "name": {"type": "string", "nullable": True},
                            "role": {"type": "string"},
                            "teams": _NAMES,
                        },
                    }
                ),
                **error_responses(401),
            },
        }
    },
    "/api/v1/postmortems": {
        "get": {
            "summary": "Postmortems visible to the caller, newest first, paged and filtered",
            "parameters": [query.openapi() for query in LIST_FILTERS],
            "responses": {
                "200": ok(
                    {
                        "type": "object",
                        "properties": {
                            "total": {"type": "integer"},
                            "page": {"type": "integer"},
                            "per_page": {"type": "integer"},
                            "items": {"type": "array", "items": ref("PostmortemSummary")},
                        },
                    }
                ),
                **error_responses(400, 401),
            },
        },
        "post": {
            "summary": "Create a postmortem from a document, as a draft",
            "requestBody": _body(ref("NewDocument")),
            "responses": {
                "201": ok("VersionedDocument", "Created"),
                **error_responses(400, 401, 403, 409, 413, 422),
            },
        },
    },
    "/api/v1/postmortems/{ref}": {
        "get": {
            "summary": "One postmortem, with its version",
            "parameters": [_REF],
            "responses": {"200": ok("VersionedDocument"), **error_responses(401, 404)},
        },
        "put": {
            "summary": "Replace a postmortem's content; `version` is the version you edited, "
            "`note` the amendment note of a published one",
            "parameters": [_REF],
            "requestBody": _body(ref("DocumentUpdate")),
            "responses": {
                "200": ok("VersionedDocument"),
                **error_responses(400, 401, 403, 404, 409, 413, 422),
            },
        },
    },
    "/api/v1/postmortems/{ref}/transitions": {
        "post": {
            "summary": "Move through the review workflow",
            "parameters": [_REF],
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["action"],
                    "properties": {
                        "action": {"type": "string", "enum": list(workflow.TRANSITIONS)},
                        "reviewers": _NAMES,
                        "comment": {"type": "string", "maxLength": 2000},
                        "version": _VERSION,
                    },
                }
            ),
            "responses": {
                "200": ok("VersionedDocument"),
                **error_responses(400, 401, 404, 409, 422),
            },
        }
    },
    "/api/v1/postmortems/{ref}/revisions": {
        "get": {
            "summary": "The revisions of a postmortem, newest first",
            "parameters": [_REF],
            "responses": {
                "200": ok(
                    {
                        "type": "object",
                        "properties": {"items": {"type": "array", "items": ref("Revision")}},
                    }
                ),
                **error_responses(401, 404),
            },
        },
    },
    "/api/v1/postmortems/{ref}/revisions/{number}": {
        "get": {
            "summary": "One revision with its document",
            "parameters": [_REF, path_parameter("number", "integer")],
            "responses": {"200": ok("RevisionWithDocument"), **error_responses(401, 404)},
        },
    },
}
