"""A postmortem's history: its revisions, the changes between two, and restoring one."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlmodel import select

from kb import attachments, diff, editing, postmortems, premortems, workflow
from kb import revisions as revision_history
from kb.db import get_session
from kb.document import DocumentError, to_document
from kb.models import User
from kb.web import params
from kb.web.editor import base_version, editable

bp = Blueprint("history", __name__)


@bp.route("/postmortems/<ref>/revisions")
@login_required
def revisions(ref):
    db = get_session()
    pm = postmortems.get(db, ref, current_user)
    if pm is None:
        abort(404)
    rows = revision_history.history(db, pm)
    authors = {u.id: u for u in db.exec(select(User)).all()}
    originals = [f for f in attachments.listing(db, pm) if f.origin == "import"]
    return render_template(
        "editor/revisions.html", pm=pm, rows=rows, authors=authors, originals=originals
    )


@bp.route("/postmortems/<ref>/revisions/compare")
@login_required
def compare(ref):
    db = get_session()
    pm = postmortems.get(db, ref, current_user)
    if pm is None:
        abort(404)
    a = params.arg_number("a", None, 1, params.MAX_INT)
    b = params.arg_number("b", None, 1, params.MAX_INT)
    old = revision_history.get(db, pm, a) if a else None
    new = revision_history.get(db, pm, b) if b else None
    if old is None or new is None:
        flash("Choose two revisions that exist.", "error")
        return redirect(url_for("history.revisions", ref=ref))
    shown = [premortems.redacted(db, r.document, current_user) for r in (old, new)]
    changes = diff.compare(*shown)
    return render_template("editor/compare.html", pm=pm, old=old, new=new, changes=changes)


@bp.route("/postmortems/<ref>/revisions/<int:number>/restore", methods=["GET", "POST"])
@login_required
def restore(ref, number):
    """GET: what restoring would change, and a button to confirm; POST: restore."""
    db, pm = editable(ref)
    if request.method == "GET":
        try:
            restored = editing.restored_document(db, pm, number)
        except workflow.WorkflowError as exc:
            flash(str(exc), "error")
            return redirect(url_for("history.revisions", ref=ref))
        return render_template(
            "editor/restore.html",
            pm=pm,
            number=number,
            changes=diff.compare(
                *(premortems.redacted(db, d, current_user) for d in (to_document(pm), restored))
            ),
        )
    try:
        pm, changed = editing.restore(
            db,
            pm,
            number,
            current_user,
            base_version=base_version(),
            amendment=request.form.get("note", ""),
        )
    except workflow.WorkflowError as exc:
        db.rollback()
        flash(f"Not restored: {exc.field + ': ' if exc.field else ''}{exc}", "error")
        return redirect(url_for("history.revisions", ref=ref))
    except (postmortems.Conflict, DocumentError) as exc:
        db.rollback()
        flash(str(exc), "error")
        return redirect(url_for("history.revisions", ref=ref))
    db.commit()
    flash(
        f"Revision {number} restored as the current version."
        if changed
        else f"Revision {number} is the same as the current version.",
        "info",
    )
    return redirect(url_for("history.revisions", ref=ref))
