"""The admins' page of outgoing webhooks: the hooks, adding one, pausing and removing, and the
latest deliveries with their attempts."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from kb.db import get_session
from kb.hooks import EVENTS, FORMATS, delivery, registry
from kb.web import params

bp = Blueprint("hooks", __name__)

DELIVERIES_SHOWN = 30


@bp.before_request
@login_required
def _admins_only():
    if current_user.role != "admin":
        abort(403)


def _page(form=None, errors=None, status=200):
    db = get_session()
    hook_id = params.whole_or_none(request.args.get("hook", ""))
    found = registry.hooks(db)
    if hook_id is not None and hook_id not in {h.id for h in found}:
        hook_id = None
    return (
        render_template(
            "hooks/index.html",
            hooks=[registry.describe(h) for h in found],
            pending=registry.pending_counts(db),
            deliveries=delivery.deliveries(db, hook_id=hook_id, limit=DELIVERIES_SHOWN),
            hook_id=hook_id,
            events=EVENTS,
            formats=FORMATS,
            form=form or {"events": list(EVENTS), "format": "json"},
            errors=errors or {},
        ),
        status,
    )


@bp.route("/admin/hooks")
def index():
    return _page()


@bp.route("/admin/hooks", methods=["POST"])
def add():
    db = get_session()
    form = {
        "url": request.form.get("url", ""),
        "events": request.form.getlist("events"),
        "format": request.form.get("format", "json"),
        "receives_restricted": request.form.get("receives_restricted") == "on",
        "description": request.form.get("description", ""),
    }
    if not form["events"]:
        errors = {"events": "Choose at least one event."}
        return _page(form, errors, 400)
    try:
        hook = registry.add_hook(
            db,
            form["url"],
            events=form["events"],
            format=form["format"],
            secret=request.form.get("secret", ""),
            receives_restricted=form["receives_restricted"],
            description=form["description"],
            actor=current_user,
        )
    except registry.HookError as exc:
        db.rollback()
        return _page(form, {exc.field or "url": str(exc)}, 400)
    db.commit()
    flash(f"Added hook {hook.id}: events go to {hook.url}.", "info")
    return redirect(url_for("hooks.index"))


def _change(hook_id, change, message):
    db = get_session()
    try:
        hook = change(db, hook_id)
    except registry.HookError:
        db.rollback()
        abort(404)
    db.commit()
    flash(message.format(id=hook_id, url=hook.url), "info")
    return redirect(url_for("hooks.index"))


@bp.route("/admin/hooks/<int:hook_id>/remove", methods=["POST"])
def remove(hook_id):
    return _change(
        hook_id,
        lambda db, i: registry.remove_hook(db, i, actor=current_user),
        "Removed hook {id} ({url}) and its deliveries.",
    )


@bp.route("/admin/hooks/<int:hook_id>/pause", methods=["POST"])
def pause(hook_id):
    return _change(
        hook_id,
        lambda db, i: registry.set_active(db, i, False, actor=current_user),
        "Paused hook {id}: nothing is sent to it until it is resumed.",
    )


@bp.route("/admin/hooks/<int:hook_id>/resume", methods=["POST"])
def resume(hook_id):
    return _change(
        hook_id,
        lambda db, i: registry.set_active(db, i, True, actor=current_user),
        "Resumed hook {id}.",
    )
