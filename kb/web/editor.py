"""Writing postmortems: create, edit (with autosave), conflicts and the review workflow."""

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from sqlmodel import select

from kb import (
    accounts,
    attachments,
    blameless,
    diff,
    editing,
    owners,
    postmortems,
    template,
    workflow,
)
from kb import revisions as revision_history
from kb.db import get_session
from kb.document import DocumentError, to_document
from kb.markdown import render_uncached
from kb.models import ACTION_STATUSES, KINDS, SEVERITIES, TRIGGERS, VISIBILITIES, User
from kb.web import params, postmortem_form, premortem_view
from kb.web import reviews as review_pages

bp = Blueprint("editor", __name__)
BLANK_ROWS = {
    "timeline": 1,
    "contributing_factors": 1,
    "risks": 1,
    "action_items": 1,
    "links": 1,
}
ADD_TARGETS = {
    "timeline": "timeline",
    "factor": "contributing_factors",
    "risk": "risks",
    "action": "action_items",
    "link": "links",
}


def _writer():
    if current_user.role not in ("author", "admin"):
        abort(403)


def editable(ref):
    """The session and the postmortem `ref`, which the signed-in user may edit (else 404/403)."""
    db = get_session()
    pm = postmortems.get(db, ref, current_user)
    if pm is None:
        abort(404)
    if not workflow.can_edit(current_user, pm):
        abort(403)
    return db, pm


def _tz():
    name = request.form.get("tz") or session.get("tz") or "UTC"
    if request.form.get("tz"):
        session["tz"] = request.form["tz"]
    return name


def _names(db):
    return [u.name for u in db.exec(select(User).where(User.active)).all() if u.name]


def _suggestions(db):
    """Values of services, teams and tags on the postmortems this person may see, and the
    people and teams an action item may be owned by, for the form's suggestion lists."""
    found = postmortems.label_values(db, current_user, ("services", "teams", "tags"))
    return found | {"owners": owners.suggestions(db, current_user)}


@bp.route("/postmortems/new", methods=["GET", "POST"])
@login_required
def new():
    _writer()
    title, kind, error = "", "incident", None
    if request.method == "POST":
        title = (request.form.get("title") or "").strip()
        kind = request.form.get("kind") if request.form.get("kind") in KINDS else "incident"
        db = get_session()
        try:
            pm = editing.create_draft(db, title, current_user, kind=kind)
        except DocumentError as exc:
            error = "; ".join(e.message for e in exc.errors)
        except postmortems.Conflict as exc:
            db.rollback()
            error = str(exc)
        else:
            db.commit()
            flash(f"{pm.ref} created. Everything else can be filled in as you learn more.", "info")
            return redirect(url_for("editor.edit", ref=pm.ref))
    return render_template("editor/new.html", title=title, kind=kind, kinds=KINDS, error=error), (
        422 if error else 200
    )


@bp.route("/postmortems/<ref>/edit", methods=["GET", "POST"])
@login_required
def edit(ref):
    db, pm = editable(ref)
    tz = _tz()
    if request.method == "GET":
        return _render_editor(db, pm, to_document(pm), tz, version=pm.version)

    raw = postmortem_form.read(request.form, to_document(pm))
    if "add_risk" in request.form:  # "Add as risk" from the radar, without script
        raw = postmortem_form.add_risk(raw, request.form["add_risk"])
        return _save(db, pm, raw, tz, note="edited")
    added = request.form.get("add")
    if added in ADD_TARGETS:  # "Add a row" without JavaScript: show the form again, one more row
        extra = dict(BLANK_ROWS)
        extra[ADD_TARGETS[added]] += 1
        return _render_editor(
            db,
            pm,
            raw,
            tz,
            version=base_version(),
            extra=extra,
            amendment=request.form.get("note", ""),
        )

    choices = {k[len("choose-") :]: v for k, v in request.form.items() if k.startswith("choose-")}
    if choices:  # coming from the conflict page: take the chosen side of each field
        current = to_document(pm)
        for field, side in choices.items():
            if side == "theirs" and field in current:
                raw[field] = current[field]
    return _save(db, pm, raw, tz, note="edited")


def base_version():
    """The version the form was loaded at (its hidden `version` field), or None."""
    raw = request.form.get("version", "")
    return params.whole_number(raw, "version", 1) if raw else None


def _save(db, pm, raw, tz, note, *, autosave=False):
    # Autosave always answers in JSON and never flashes: navigator.sendBeacon cannot ask for
    # JSON, and a message stored by it would turn up on whatever page comes next.
    wants_json = autosave or request.accept_mimetypes.best == "application/json"
    base = base_version()
    if base is None:
        if wants_json:
            return jsonify(
                error={
                    "status": 400,
                    "title": "Bad Request",
                    "message": "version: the form carries no version",
                }
            ), 400
        abort(400)
    amendment = request.form.get("note", "")
    try:
        pm, changed, refused = editing.save_draft(
            db, pm, raw, current_user, base_version=base, note=note, amendment=amendment
        )
    except workflow.WorkflowError as exc:
        db.rollback()
        status = 403 if isinstance(exc, workflow.NotAllowed) else 422
        if wants_json:
            title = "Forbidden" if status == 403 else "Not saved"
            return jsonify(
                error={
                    "status": status,
                    "title": title,
                    "message": f"{exc.field}: {exc}" if exc.field else str(exc),
                    "errors": [{"field": exc.field, "message": str(exc)}],
                }
            ), status
        field = exc.field or "document"
        errors = {field: f"{postmortem_form.label(field)}: {exc}"}
        return _render_editor(
            db, pm, raw, tz, version=base, errors=errors, status=status, amendment=amendment
        )
    except postmortems.Conflict as exc:
        db.rollback()
        if wants_json:
            return jsonify(
                error={"status": 409, "title": "Conflict", "message": str(exc)},
                current_version=exc.postmortem.version,
            ), 409
        return _render_conflict(db, exc.postmortem, raw, tz)
    except DocumentError as exc:
        db.rollback()
        if wants_json:
            return jsonify(
                error={
                    "status": 422,
                    "title": "Not saved",
                    "message": str(exc),
                    "errors": _field_errors(exc.errors),
                },
            ), 422
        errors = {e.field: _message(e) for e in exc.errors}
        return _render_editor(
            db, pm, raw, tz, version=base, errors=errors, status=422, amendment=amendment
        )
    db.commit()
    hints = blameless.check_document(to_document(pm), _names(db))
    if wants_json:
        return jsonify(
            version=pm.version,
            saved=changed,
            saved_at=pm.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            hints=[h.as_dict() for h in hints],
            refused=_field_errors(refused),
        )
    if refused:  # the rest is saved; show what was typed, each refused value at its field
        errors = {e.field: _message(e) for e in refused}
        return _render_editor(
            db, pm, raw, tz, version=pm.version, errors=errors, amendment=amendment, partly=True
        )
    flash("Saved." if changed else "No changes to save.", "info")
    if request.form.get("then") == "view":
        return redirect(url_for("postmortems.show", ref=pm.ref))
    return redirect(url_for("editor.edit", ref=pm.ref))


def _message(error):
    """A refusal as the page words it: "Contributing factor 4, category: must be ..."."""
    return f"{postmortem_form.label(error.field)}: {error.message}"


def _field_errors(errors):
    """Refusals for the editor's script: the document path, the form input, the words."""
    return [
        {
            "field": e.field,
            "input": postmortem_form.input_name(request.form, e.field),
            "label": postmortem_form.label(e.field),
            "message": e.message,
        }
        for e in errors
    ]


@bp.route("/postmortems/<ref>/autosave", methods=["POST"])
@login_required
def autosave(ref):
    """The editor's script saves here as the person types, and by sendBeacon when the page
    is left (a form post, always answered in JSON)."""
    db, pm = editable(ref)
    tz = _tz()
    raw = postmortem_form.read(request.form, to_document(pm))
    return _save(db, pm, raw, tz, note=revision_history.AUTOSAVE_NOTE, autosave=True)


@bp.route("/postmortems/preview", methods=["POST"])
@login_required
def preview():
    """Markdown rendered exactly as the page will show it (sanitised), and why not if it is
    shown as typed. Typed text is not cached: every request would add an entry."""
    rendered = render_uncached(request.form.get("text") or "")
    return jsonify(html=rendered.html, notice=rendered.refused)


def _render_editor(
    db, pm, doc, tz, *, version, errors=None, status=200, extra=None, amendment="", partly=False
):
    zone = postmortem_form.zone(tz)
    view = postmortem_form.layout(doc, zone, extra or BLANK_ROWS)
    hints = blameless.check_document(doc, _names(db)) if not errors else []
    return render_template(
        "editor/edit.html",
        pm=pm,
        doc=view,
        version=version,
        errors=errors or {},
        hints=hints,
        tz=tz,
        sections=postmortem_form.sections_shown(doc),
        lists=template.load()["lists"],
        shown=postmortem_form.shown(doc.get("kind") or "incident"),
        premortem=premortem_view.editor_context(db, pm, doc, current_user),
        kinds=KINDS,
        severities=SEVERITIES,
        visibilities=VISIBILITIES,
        triggers=TRIGGERS,
        action_statuses=ACTION_STATUSES,
        suggestions=_suggestions(db),
        amendment=amendment,
        partly=partly,
        files=attachments.listing(db, pm),
        attachment_link=lambda f: attachments.markdown_link(
            f, url_for("attachments.show", ref=pm.ref, number=f.id, name=f.name)
        ),
        attachment_max=current_app.config["ATTACHMENT_MAX_BYTES"],
    ), status


def _render_conflict(db, current, mine_raw, tz):
    theirs = to_document(current)
    mine = {**theirs, **{k: v for k, v in mine_raw.items() if k in theirs}}
    changes = diff.compare(theirs, mine)
    latest = revision_history.history(db, current)[0]
    author = db.get(User, latest.author_id) if latest.author_id else None
    return render_template(
        "editor/conflict.html",
        pm=current,
        changes=changes,
        mine=mine,
        theirs=theirs,
        heading=diff.heading,
        saved_by=author,
        saved_at=latest.created_at,
        form_items=list(request.form.items(multi=True)),
        tz=tz,
    ), 409


# --- review workflow ----------------------------------------------------------------------


@bp.route("/postmortems/<ref>/transition", methods=["POST"])
@login_required
def transition(ref):
    db = get_session()
    pm = postmortems.get(db, ref, current_user)
    if pm is None:
        abort(404)
    action = request.form.get("action", "")
    reviewers = request.form.getlist("reviewers") or _split(request.form.get("reviewer_list"))
    try:
        pm = workflow.transition(
            db,
            pm,
            action,
            current_user,
            reviewers=reviewers,
            comment=request.form.get("comment", ""),
            base_version=base_version(),
        )
    except (workflow.WorkflowError, postmortems.Conflict) as exc:
        db.rollback()
        flash(str(exc), "error")
        return redirect(url_for("postmortems.show", ref=ref) + "#review")
    db.commit()
    review_pages.send_after_commit(db)
    words = {
        "request-review": "Review requested.",
        "approve": "Approved and published.",
        "request-changes": "Changes requested; it is back in draft.",
        "withdraw": "Back in draft.",
        "unpublish": "Unpublished; it is back in draft.",
    }
    flash(words.get(action, "Done."), "info")
    return redirect(url_for("postmortems.show", ref=pm.ref))


def _split(text):
    return [p.strip() for p in (text or "").replace("\n", ",").split(",") if p.strip()]


def review_context(db, pm, user):
    """What the review panel of the postmortem page needs (only what this page will show)."""
    requests = workflow.review_requests(db, pm) if pm.status != "published" else []
    can_edit = workflow.can_edit(user, pm)
    in_review = pm.status == "in-review"
    own = in_review and workflow.is_own(db, user, pm)
    pending_for_me = any(r.state == "pending" and u.id == user.id for r, u in requests)
    reviewers = []
    if pm.status == "draft" and can_edit:
        authors = {a.lower() for a in pm.label_values("authors")}
        candidates = db.exec(select(User).where(User.active, User.role.in_(("author", "admin"))))
        reviewers = [
            u
            for u in candidates
            if u.id != user.id
            and u.email not in authors
            and accounts.may_see(u, pm, asked_to_review=True)
        ]
    return {
        "requests": requests,
        "can_edit": can_edit,
        "can_review": in_review and not own and (pending_for_me or user.role == "admin"),
        "own": own,
        "reviewer_choices": reviewers,
        "hints": blameless.check_document(to_document(pm), _names(db)) if in_review else [],
        "is_admin": user.role == "admin",
    }
