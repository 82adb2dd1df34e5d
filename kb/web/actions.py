"""Action items across all postmortems: what is open, overdue and due soon, by team and owner."""

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from kb import actions, owners, postmortems, workflow
from kb.db import get_session
from kb.models import ACTION_STATUSES, utcnow
from kb.trackers import creating
from kb.trackers import setup as tracker_setup
from kb.trackers.http import TrackerError
from kb.web import params

bp = Blueprint("actions", __name__)


@bp.route("/actions")
@login_required
def index():
    db = get_session()
    view = request.args.get("view", "open")
    view = view if view in actions.ACTION_VIEWS else "open"
    team = request.args.get("team") or None
    owner = request.args.get("owner") or None
    rows = actions.action_items(db, current_user, view=view, team=team, owner=owner)
    teams = owners.teams(db, current_user)
    return render_template(
        "actions/index.html",
        rows=rows,
        issues=tracker_setup.readings(db, [item.url for item, _ in rows]),
        view=view,
        views=actions.ACTION_VIEWS,
        team=team or "",
        owner=owner or "",
        teams=teams,
        owners=actions.action_owners(db, current_user),
        owner_label=owners.directory(db).label,
        statuses=ACTION_STATUSES,
        today=utcnow().date(),
        may_update=lambda pm, item: (
            workflow.can_edit(current_user, pm) or actions.owns_action(current_user, item.owner)
        ),
    )


@bp.route("/actions/<ref>/<int:position>", methods=["POST"])
@login_required
def update(ref, position):
    db = get_session()
    pm = postmortems.get(db, ref, current_user)
    if pm is None:
        abort(404)
    status = request.form.get("status")
    if status not in ACTION_STATUSES:
        flash(f"Choose a status: {', '.join(ACTION_STATUSES)}.", "error")
    else:
        try:
            actions.set_action_status(db, pm, position, status, current_user)
        except (workflow.WorkflowError, postmortems.Conflict) as exc:
            db.rollback()
            flash(str(exc), "error")
        else:
            db.commit()
            flash(f"{ref}: action {position + 1} is now {status.replace('-', ' ')}.", "info")
    back = request.form.get("back") or ""
    return redirect(back if back.startswith("/actions") else url_for("actions.index"))


@bp.route("/actions/<ref>/<int:position>/issue", methods=["POST"])
@login_required
def create_issue(ref, position):
    """Open an issue for an action item in a tracker ("Create in tracker")."""
    db = get_session()
    pm = postmortems.get(db, ref, current_user)
    if pm is None:
        abort(404)
    back = url_for("postmortems.show", ref=pm.ref) + "#action_items"
    tracker_id = params.whole_or_none(request.form.get("tracker"), 1)
    version = params.whole_or_none(request.form.get("version"), 1)
    link = current_app.config["BASE_URL"] + url_for("postmortems.show", ref=pm.ref)
    try:
        url = creating.create_issue(
            db,
            pm,
            position,
            tracker_id,
            current_user,
            base_version=version,
            link=link,
            timeout=current_app.config["TRACKER_TIMEOUT"],
        )
    except (workflow.WorkflowError, postmortems.Conflict, TrackerError) as exc:
        db.rollback()
        flash(str(exc), "error")
    else:
        db.commit()
        flash(f"{pm.ref}: action {position + 1} now links to {url}.", "info")
    return redirect(back)
