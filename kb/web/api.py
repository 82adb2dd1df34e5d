"""The JSON API for postmortems, /api/v1: the same domain functions and visibility rule as
the pages. Bodies are documents in the document format; errors are JSON naming each field."""

from flask import Blueprint, abort, jsonify, request, url_for
from flask_login import current_user, login_required
from sqlmodel import select

from kb import editing, postmortems, premortems, revisions, workflow
from kb.db import get_session
from kb.document import DocumentError, format_datetime, to_document
from kb.models import KINDS, SEVERITIES, STATUSES, User
from kb.web import params
from kb.web import reviews as review_pages
from kb.web.errors import ApiError
from kb.web.errors import bad_request as _bad

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_PAGE_SIZE = 100
# The list's query parameters: read by list_postmortems, described by kb/web/api_openapi.py.
LIST_FILTERS = (
    params.Query.choice("status", STATUSES),
    params.Query.choice("kind", KINDS),
    params.Query.choice("severity", SEVERITIES),
    params.Query.text("service"),
    params.Query.text("team"),
    params.Query.text("tag"),
    params.Query.day_or_month("from"),
    params.Query.day_or_month("to", end=True),
    params.Query.number("page", 1),
    params.Query.number("per_page", 25, 1, MAX_PAGE_SIZE),
)
LABEL_FILTERS = {"service": "services", "team": "teams", "tag": "tags"}


def _with_version(pm):
    """The document as the caller may see it (kb.premortems.redacted), with its version."""
    shown = premortems.redacted(get_session(), to_document(pm), current_user)
    return {**shown, "version": pm.version}


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


@bp.route("/postmortems")
@login_required
def list_postmortems():
    args = params.read_all(LIST_FILTERS)
    page, per_page = args["page"], args["per_page"]
    total, rows = postmortems.filtered_listing(
        get_session(),
        current_user,
        equal={name: args[name] for name in ("status", "kind", "severity") if args[name]},
        labels={field: args[name] for name, field in LABEL_FILTERS.items() if args[name]},
        started_from=args["from"],
        started_before=args["to"],
        limit=per_page,
        offset=(page - 1) * per_page,
    )
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
        document=premortems.redacted(db, rev.document, current_user),
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
