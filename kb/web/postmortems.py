"""Reading postmortems in the browser: the list and the detail page."""

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from kb import attachments, audit, owners, postmortems, reviews, revisions, template, workflow
from kb.db import get_session
from kb.insights import kpis
from kb.models import KINDS, SEVERITIES, STATUSES
from kb.trackers import creating as tracker_creating
from kb.trackers import kinds as tracker_kinds
from kb.trackers import setup as tracker_setup
from kb.web import editor, params, premortem_view

bp = Blueprint("postmortems", __name__)
PAGE_SIZE = 25


@bp.route("/")
@login_required
def index():
    db = get_session()
    status = request.args.get("status")
    status = status if status in STATUSES else None
    page = params.arg_number("page", 1)
    total = postmortems.count(db, current_user, status=status)
    rows = postmortems.listing(
        db, current_user, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, status=status
    )
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "postmortems/index.html",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        status=status,
        statuses=STATUSES,
        waiting=reviews.waiting_for(db, current_user),
    )


@bp.route("/postmortems/<ref>")
@login_required
def show(ref):
    db = get_session()
    pm = postmortems.get(db, ref, current_user)
    if pm is None:
        abort(404)  # the same answer whether it does not exist or may not be seen
    if pm.visibility == "restricted":
        audit.record(db, current_user, "view-restricted", pm.ref)
        db.commit()
    return render_template(
        "postmortems/show.html",
        pm=pm,
        sections=template.sections(),  # those with text: of its kind, or kept from another
        premortem=premortem_view.page_context(db, pm, current_user),
        section_html=postmortems.section_html(pm),
        heading=template.heading,
        severities=SEVERITIES,
        kinds=KINDS,
        review=editor.review_context(db, pm, current_user),
        amendments=revisions.amendments(db, pm),
        response_times=kpis.response_times(pm),
        thread=reviews.thread(db, pm),
        owner_label=owners.directory(db).label,
        files=attachments.listing(db, pm),
        issues=tracker_setup.readings(db, [a.url for a in pm.action_items]),
        issue_trackers=(
            tracker_creating.trackers_for_creating(db)
            if workflow.can_edit(current_user, pm)
            else []
        ),
        tracker_label=tracker_kinds.label,
    )
