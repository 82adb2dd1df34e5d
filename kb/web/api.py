"""The JSON API for postmortems, /api/v1: the same domain functions and visibility rule as
the pages. Bodies are documents in the document format; errors are JSON naming each field."""

from datetime import UTC, date, datetime

from flask import Blueprint, abort, jsonify, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import and_, exists
from sqlmodel import func, select

from kb import accounts, editing, postmortems, revisions, workflow
from kb.db import get_session
from kb.document import FIELDS, DocumentError, format_datetime, to_document
from kb.models import (
    ACTION_STATUSES,
    KINDS,
    SECTIONS,
    SEVERITIES,
    STATUSES,
    Label,
    Postmortem,
    User,
)
from kb.months import month_begins, month_ends, parse_month
from kb.web import params
from kb.web import reviews as review_pages
from kb.web.openapi import error_responses

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_PAGE_SIZE = 100


class ApiError(Exception):
    """An error answered as JSON: a status, and (field, message) pairs."""

    def __init__(self, status, title, errors, **extra):
        super().__init__(title)
        self.status, self.title, self.errors, self.extra = status, title, errors, extra


@bp.errorhandler(ApiError)
def _api_error(exc):
    body = {
        "status": exc.status,
        "title": exc.title,
        "message": "; ".join(f"{f}: {m}" if f else m for f, m in exc.errors),
        "errors": [{"field": f, "message": m} for f, m in exc.errors],
    }
    return jsonify(error=body, **exc.extra), exc.status


def _bad(field, message):
    return ApiError(400, "Bad Request", [(field, message)])


def _with_version(pm):
    return {**to_document(pm), "version": pm.version}


def _body():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise _bad("body", "must be a JSON object (send Content-Type: application/json)")
    return data


def _writer():
    if current_user.role not in ("author", "admin"):
        raise ApiError(403, "Forbidden", [("", "Only authors and admins can write postmortems.")])


def _invalid(exc):
    return ApiError(422, "Unprocessable Entity", [(e.field, e.message) for e in exc.errors])


def _visible(ref):
    pm = postmortems.get(get_session(), ref, current_user)
    if pm is None:
        abort(404)
    return pm


@bp.route("/me")
@login_required
def me():
    user = current_user
    return jsonify(email=user.email, name=user.name, role=user.role, teams=user.teams)


# --- postmortems --------------------------------------------------------------------------


def _month_or_date(name, end=False):
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        if len(raw) == 7:
            month = parse_month(raw, earliest=1, allow_future=True)
            return month_ends(month) if end else month_begins(month)
        day = date.fromisoformat(raw)
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return moment.replace(hour=23, minute=59, second=59) if end else moment
    except ValueError:
        raise _bad(name, "must be a date (2026-03-02) or a month (2026-03)") from None


def _choice(name, allowed):
    value = request.args.get(name)
    if value is not None and value not in allowed:
        raise _bad(name, f"must be one of {', '.join(allowed)}")
    return value


@bp.route("/postmortems")
@login_required
def list_postmortems():
    db = get_session()
    query = select(Postmortem).where(accounts.visibility_filter(current_user))
    for name, allowed in (("status", STATUSES), ("kind", KINDS), ("severity", SEVERITIES)):
        value = _choice(name, allowed)
        if value:
            query = query.where(getattr(Postmortem, name) == value)
    for name, field in (("service", "services"), ("team", "teams"), ("tag", "tags")):
        value = request.args.get(name)
        if value:
            query = query.where(
                exists().where(
                    and_(
                        Label.postmortem_id == Postmortem.id,
                        Label.field == field,
                        Label.value == value,
                    )
                )
            )
    start, end = _month_or_date("from"), _month_or_date("to", end=True)
    if start:
        query = query.where(Postmortem.started_at >= start)
    if end:
        query = query.where(Postmortem.started_at < end)
    page = params.arg_number("page", 1)
    per_page = params.arg_number("per_page", 25, 1, MAX_PAGE_SIZE)
    total = db.exec(select(func.count()).select_from(query.subquery())).one()
    newest = func.coalesce(Postmortem.started_at, Postmortem.created_at)
    rows = db.exec(
        query.order_by(newest.desc(), Postmortem.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return jsonify(total=total, page=page, per_page=per_page, items=[_summary(pm) for pm in rows])


@bp.route("/postmortems", methods=["POST"])
@login_required
def create_postmortem():
    _writer()
    raw = _body()
    raw.pop("version", None)
    db = get_session()
    if isinstance(raw.get("ref"), str) and postmortems.get(db, raw["ref"].strip(), None):
        raise ApiError(409, "Conflict", [("ref", "a postmortem with this ref exists: use PUT")])
    if not raw.get("authors"):
        raw["authors"] = [current_user.email]
    try:
        pm, created = editing.create(db, raw, current_user)
    except DocumentError as exc:
        raise _invalid(exc) from None
    except workflow.WorkflowError as exc:
        db.rollback()
        raise _refused(exc) from None
    except postmortems.Conflict as exc:  # another request created this ref meanwhile
        db.rollback()
        raise ApiError(409, "Conflict", [("ref", str(exc))]) from None
    if not (created and pm.version == 1):  # created by another request since the check above
        db.rollback()
        raise ApiError(409, "Conflict", [("ref", "a postmortem with this ref exists: use PUT")])
    db.commit()
    response = jsonify(_with_version(pm))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_postmortem", ref=pm.ref)
    return response


@bp.route("/postmortems/<ref>")
@login_required
def get_postmortem(ref):
    return jsonify(_with_version(_visible(ref)))


@bp.route("/postmortems/<ref>", methods=["PUT"])
@login_required
def put_postmortem(ref):
    _writer()
    pm = _visible(ref)
    raw = _body()
    version = raw.pop("version", None)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ApiError(400, "Bad Request", [("version", "is required: the version you edited")])
    params.whole_number(version, "version", 1)
    if raw.get("ref") not in (None, pm.ref):
        raise ApiError(422, "Unprocessable Entity", [("ref", f"must be {pm.ref} (or left out)")])
    if raw.get("status") not in (None, pm.status):
        raise ApiError(
            422,
            "Unprocessable Entity",
            [("status", "changes through POST .../transitions, not PUT")],
        )
    note = raw.pop("note", None)
    if note is not None and not isinstance(note, str):
        raise _bad("note", "must be text: what this amendment changed")
    db = get_session()
    try:
        pm, _changed = editing.update(
            db, pm, raw, current_user, base_version=version, amendment=note or ""
        )
    except postmortems.Conflict as exc:
        db.rollback()
        current = postmortems.get(db, ref, current_user)
        if current is None:  # made restricted meanwhile, and not to this caller
            abort(404)
        raise ApiError(
            409,
            "Conflict",
            [("version", str(exc))],
            current_version=current.version,
            current=_with_version(current),
        ) from None
    except DocumentError as exc:
        db.rollback()
        raise _invalid(exc) from None
    except workflow.WorkflowError as exc:
        db.rollback()
        raise _refused(exc) from None
    db.commit()
    return jsonify(_with_version(pm))


def _refused(exc):
    """A rule of the review workflow: 403 when another person could do it, else 422."""
    if isinstance(exc, workflow.NotAllowed):
        return ApiError(403, "Forbidden", [(exc.field, str(exc))])
    return ApiError(422, "Unprocessable Entity", [(exc.field, str(exc))])


@bp.route("/postmortems/<ref>/transitions", methods=["POST"])
@login_required
def transition(ref):
    pm = _visible(ref)
    body = _body()
    action = body.get("action")
    if action not in workflow.TRANSITIONS:
        raise _bad("action", f"must be one of {', '.join(workflow.TRANSITIONS)}")
    reviewers = body.get("reviewers") or []
    if not isinstance(reviewers, list) or not all(isinstance(r, str) for r in reviewers):
        raise _bad("reviewers", "must be a list of e-mail addresses")
    comment = body.get("comment") or ""
    if not isinstance(comment, str) or len(comment) > 2000:
        raise _bad("comment", "must be text of at most 2,000 characters")
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise _bad("version", "must be a whole number")
    if version is not None:
        params.whole_number(version, "version", 1)
    db = get_session()
    try:
        pm = workflow.transition(
            db, pm, action, current_user, reviewers=reviewers, comment=comment, base_version=version
        )
    except postmortems.Conflict as exc:
        db.rollback()
        raise ApiError(409, "Conflict", [("version", str(exc))]) from None
    except workflow.WorkflowError as exc:
        db.rollback()
        raise ApiError(422, "Unprocessable Entity", [("action", str(exc))]) from None
    db.commit()
    review_pages.send_after_commit(db)
    return jsonify(_with_version(pm))


@bp.route("/postmortems/<ref>/revisions")
@login_required
def list_revisions(ref):
    pm = _visible(ref)
    db = get_session()
    users = {u.id: u.email for u in db.exec(select(User)).all()}
    return jsonify(
        items=[
            {
                "number": r.number,
                "started_at": format_datetime(r.started_at),
                "created_at": format_datetime(r.created_at),
                "author": users.get(r.author_id),
                "note": r.note,
                "amendment": r.amendment or None,
            }
            for r in revisions.history(db, pm)
        ]
    )


@bp.route("/postmortems/<ref>/revisions/<int:number>")
@login_required
def get_revision(ref, number):
    pm = _visible(ref)
    db = get_session()
    rev = revisions.get(db, pm, number)
    if rev is None:
        abort(404)
    author = db.get(User, rev.author_id) if rev.author_id else None
    return jsonify(
        number=rev.number,
        started_at=format_datetime(rev.started_at),
        created_at=format_datetime(rev.created_at),
        author=author.email if author else None,
        note=rev.note,
        amendment=rev.amendment or None,
        document=rev.document,
    )


def _summary(pm):
    return {
        "ref": pm.ref,
        "title": pm.title,
        "kind": pm.kind,
        "status": pm.status,
        "severity": pm.severity,
        "visibility": pm.visibility,
        "services": pm.label_values("services"),
        "teams": pm.label_values("teams"),
        "started_at": format_datetime(pm.started_at),
        "published_at": format_datetime(pm.published_at),
        "version": pm.version,
    }


# --- OpenAPI description ------------------------------------------------------------------

_TIME = {"type": "string", "format": "date-time", "nullable": True}
_NAMES = {"type": "array", "items": {"type": "string"}}
DOCUMENT_SCHEMA = {
    "type": "object",
    "description": "A postmortem in the document format v1 (docs/document-format.md).",
    "required": ["title"],
    "additionalProperties": False,
    "properties": {
        "format": {"type": "string", "enum": ["hindsight/postmortem@1"]},
        "ref": {"type": "string", "nullable": True, "example": "INC-2026-014"},
        "title": {"type": "string", "minLength": 3, "maxLength": 200},
        "kind": {"type": "string", "enum": list(KINDS)},
        "status": {"type": "string", "enum": list(STATUSES)},
        "severity": {"type": "string", "enum": list(SEVERITIES), "nullable": True},
        "visibility": {"type": "string", "enum": ["internal", "restricted"]},
        **{name: _NAMES for name in ("readers", "authors", "teams", "services", "tags")},
        "trigger": {"type": "string"},
        **{name: _TIME for name in FIELDS if name.endswith("_at")},
        **{name: {"type": "string"} for name in SECTIONS},
        "timeline": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "at": {"type": "string", "format": "date-time"},
                    "text": {"type": "string"},
                    "source": {"type": "string", "nullable": True},
                },
            },
        },
        "contributing_factors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "category": {"type": "string", "nullable": True},
                },
            },
        },
        "action_items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "owner": {"type": "string", "nullable": True},
                    "due": {"type": "string", "format": "date", "nullable": True},
                    "status": {
                        "type": "string",
                        "enum": list(ACTION_STATUSES),
                    },
                    "url": {"type": "string", "nullable": True},
                    "factor": {"type": "integer", "nullable": True},
                },
            },
        },
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "title": {"type": "string", "nullable": True},
                    "url": {"type": "string"},
                },
            },
        },
    },
}
_REF = {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}
_JSON = "application/json"


def _ok(schema, description="OK"):
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


OPENAPI_SCHEMAS = {
    "Document": DOCUMENT_SCHEMA,
    "NewDocument": {
        **DOCUMENT_SCHEMA,
        "description": "A new postmortem: always a draft. `status` may only be `draft` and "
        "`published_at` is left out (any other value is a 422 naming the field); it moves on "
        "through POST /api/v1/postmortems/{ref}/transitions. Published history is imported "
        "with `kb import`.",
        "properties": {
            **DOCUMENT_SCHEMA["properties"],
            "status": {"type": "string", "enum": ["draft"]},
            "published_at": {
                "type": "string",
                "format": "date-time",
                "nullable": True,
                "description": "Set when the postmortem is published; leave it out.",
            },
        },
    },
    "VersionedDocument": {
        **DOCUMENT_SCHEMA,
        "properties": {**DOCUMENT_SCHEMA["properties"], "version": {"type": "integer"}},
    },
    "DocumentUpdate": {
        **DOCUMENT_SCHEMA,
        "description": "The whole document as you edited it, with the `version` you edited. "
        "`status` and `published_at` are the current ones or left out (they change only "
        "through the transitions). `visibility`, and the authors, readers and teams of a "
        "restricted postmortem, are changed only by its authors and admins (403). A change to "
        "a published postmortem is an amendment: only its authors, the authors of its teams "
        "and admins make one (403), and `note` is required (422 naming `note`).",
        "required": ["title", "version"],
        "properties": {
            **DOCUMENT_SCHEMA["properties"],
            "version": {"type": "integer"},
            "note": {
                "type": "string",
                "maxLength": 200,
                "description": "What this amendment changed, for example `corrected the "
                "detection time`: required when the postmortem is published, shown on its "
                "page and in its history; ignored for drafts.",
            },
        },
    },
    "PostmortemSummary": {
        "type": "object",
        "properties": {
            "ref": {"type": "string"},
            "title": {"type": "string"},
            "kind": {"type": "string"},
            "status": {"type": "string"},
            "severity": {"type": "string", "nullable": True},
            "visibility": {"type": "string"},
            "services": _NAMES,
            "teams": _NAMES,
            "started_at": _TIME,
            "published_at": _TIME,
            "version": {"type": "integer"},
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
                "type": "string",
                "nullable": True,
                "description": "When the first autosave folded into this revision was made",
            },
            "created_at": {"type": "string"},
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
_filters = [
    {"name": n, "in": "query", "required": False, "schema": s}
    for n, s in (
        ("status", {"type": "string", "enum": list(STATUSES)}),
        ("kind", {"type": "string", "enum": list(KINDS)}),
        ("severity", {"type": "string", "enum": list(SEVERITIES)}),
        ("service", {"type": "string"}),
        ("team", {"type": "string"}),
        ("tag", {"type": "string"}),
        ("from", {"type": "string", "description": "YYYY-MM or YYYY-MM-DD"}),
        ("to", {"type": "string", "description": "YYYY-MM or YYYY-MM-DD"}),
        ("page", {"type": "integer", "minimum": 1}),
        ("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}),
    )
]
OPENAPI_PATHS = {
    "/api/v1/me": {
        "get": {
            "summary": "Who the token or session belongs to",
            "responses": {"200": _ok({"type": "object"}), **error_responses(401)},
        }
    },
    "/api/v1/postmortems": {
        "get": {
            "summary": "Postmortems visible to the caller, newest first, paged and filtered",
            "parameters": _filters,
            "responses": {
                "200": _ok(
                    {
                        "type": "object",
                        "properties": {
                            "total": {"type": "integer"},
                            "page": {"type": "integer"},
                            "per_page": {"type": "integer"},
                            "items": {"type": "array", "items": _ref("PostmortemSummary")},
                        },
                    }
                ),
                **error_responses(400, 401),
            },
        },
        "post": {
            "summary": "Create a postmortem from a document, as a draft",
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": _ref("NewDocument")}},
            },
            "responses": {
                "201": _ok(_ref("VersionedDocument"), "Created"),
                **error_responses(400, 401, 403, 409, 413, 422),
            },
        },
    },
    "/api/v1/postmortems/{ref}": {
        "get": {
            "summary": "One postmortem, with its version",
            "parameters": [_REF],
            "responses": {"200": _ok(_ref("VersionedDocument")), **error_responses(401, 404)},
        },
        "put": {
            "summary": "Replace a postmortem's content; `version` is the version you edited, "
            "`note` the amendment note of a published one",
            "parameters": [_REF],
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": _ref("DocumentUpdate")}},
            },
            "responses": {
                "200": _ok(_ref("VersionedDocument")),
                **error_responses(400, 401, 403, 404, 409, 413, 422),
            },
        },
    },
    "/api/v1/postmortems/{ref}/transitions": {
        "post": {
            "summary": "Move through the review workflow",
            "parameters": [_REF],
            "requestBody": {
                "required": True,
                "content": {
                    _JSON: {
                        "schema": {
                            "type": "object",
                            "required": ["action"],
                            "properties": {
                                "action": {"type": "string", "enum": list(workflow.TRANSITIONS)},
                                "reviewers": _NAMES,
                                "comment": {"type": "string"},
                                "version": {"type": "integer"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _ok(_ref("VersionedDocument")),
                **error_responses(400, 401, 404, 409, 422),
            },
        }
    },
    "/api/v1/postmortems/{ref}/revisions": {
        "get": {
            "summary": "The revisions of a postmortem, newest first",
            "parameters": [_REF],
            "responses": {
                "200": _ok(
                    {
                        "type": "object",
                        "properties": {"items": {"type": "array", "items": _ref("Revision")}},
                    }
                ),
                **error_responses(401, 404),
            },
        },
    },
    "/api/v1/postmortems/{ref}/revisions/{number}": {
        "get": {
            "summary": "One revision with its document",
            "parameters": [
                _REF,
                {"name": "number", "in": "path", "required": True, "schema": {"type": "integer"}},
            ],
            "responses": {"200": _ok({"type": "object"}), **error_responses(401, 404)},
        },
    },
}
