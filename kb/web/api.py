"""The JSON API, /api/v1: the same domain functions and visibility rule as the pages."""

from flask import Blueprint, abort, jsonify, request
from flask_login import current_user, login_required

from kb import postmortems
from kb.db import get_session
from kb.document import to_document
from kb.models import STATUSES

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_PAGE_SIZE = 100


@bp.route("/me")
@login_required
def me():
    user = current_user
    return jsonify(email=user.email, name=user.name, role=user.role, teams=user.teams)


@bp.route("/postmortems")
@login_required
def list_postmortems():
    db = get_session()
    status = request.args.get("status")
    if status is not None and status not in STATUSES:
        return _bad_request("status", f"must be one of {', '.join(STATUSES)}")
    page = request.args.get("page", 1, type=int)
    per_page = request.args.get("per_page", 25, type=int)
    if page is None or page < 1:
        return _bad_request("page", "must be a whole number from 1")
    if per_page is None or not 1 <= per_page <= MAX_PAGE_SIZE:
        return _bad_request("per_page", f"must be a whole number from 1 to {MAX_PAGE_SIZE}")
    total = postmortems.count(db, current_user, status=status)
    rows = postmortems.listing(
        db, current_user, limit=per_page, offset=(page - 1) * per_page, status=status
    )
    return jsonify(
        total=total,
        page=page,
        per_page=per_page,
        items=[_summary(pm) for pm in rows],
    )


@bp.route("/postmortems/<ref>")
@login_required
def get_postmortem(ref):
    pm = postmortems.get(get_session(), ref, current_user)
    if pm is None:
        abort(404)
    return jsonify({**to_document(pm), "version": pm.version})


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
        "started_at": to_document(pm)["started_at"],
        "version": pm.version,
    }


def _bad_request(field, message):
    body = {
        "status": 400,
        "title": "Bad Request",
        "message": f"{field}: {message}",
        "errors": [{"field": field, "message": message}],
    }
    return jsonify(error=body), 400
