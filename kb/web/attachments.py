"""Attachments in the browser: upload to a postmortem (a form, or pasted and dropped into the
editor by script), read them through the postmortem's visibility, and remove them."""

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlmodel import select

from kb import attachments, postmortems
from kb.db import get_session
from kb.models import Attachment
from kb.web.editor import editable

bp = Blueprint("attachments", __name__)
FORM_OVERHEAD = 64 * 1024  # the multipart envelope around the file


def _wants_json():
    return request.accept_mimetypes.best == "application/json"


def upload_limit(app):
    """The largest request an upload may be: one attachment and its envelope."""
    return app.config["ATTACHMENT_MAX_BYTES"] + FORM_OVERHEAD


def url_of(pm, attachment):
    return url_for("attachments.show", ref=pm.ref, number=attachment.id, name=attachment.name)


@bp.route("/postmortems/<ref>/attachments", methods=["POST"])
@login_required
def upload(ref):
    db, pm = editable(ref)
    file = request.files.get("file")
    data = b""
    if file:
        try:
            data = file.read()
        finally:  # an upload larger than memory's share is spooled to a temporary file
            file.close()
    try:
        attachment = attachments.add(
            db,
            pm,
            file.filename if file else "",
            data,
            current_user,
            max_bytes=current_app.config["ATTACHMENT_MAX_BYTES"],
        )
    except attachments.AttachmentError as exc:
        db.rollback()
        message = f"Not attached: {exc}." if file else "Choose a file to attach."
        if _wants_json():
            return jsonify(error=message), 422
        flash(message, "error")
        return redirect(url_for("editor.edit", ref=ref) + "#attachments")
    db.commit()
    url = url_of(pm, attachment)
    markdown = attachments.markdown_link(attachment, url)
    if _wants_json():
        body = {"id": attachment.id, "name": attachment.name, "url": url, "markdown": markdown}
        return jsonify(body), 201
    flash(f"Attached {attachment.name}. To show it in a section, write {markdown}", "info")
    return redirect(url_for("editor.edit", ref=ref) + "#attachments")


upload.max_content_length = upload_limit


def _attachment(ref, number):
    db = get_session()
    pm = postmortems.get(db, ref, current_user)  # the postmortem's visibility rule
    if pm is None:
        abort(404)
    found = db.exec(
        select(Attachment).where(Attachment.id == number, Attachment.postmortem_id == pm.id)
    ).first()
    if found is None:
        abort(404)
    return db, pm, found


@bp.route("/postmortems/<ref>/attachments/<int:number>/<name>")
@login_required
def show(ref, number, name):
    _db, _pm, attachment = _attachment(ref, number)
    return _send(attachment)


@bp.route("/postmortems/<ref>/files/<name>")
@login_required
def by_name(ref, name):
    """The newest attachment of this name: how imported Markdown shows the images that sat
    beside it."""
    db = get_session()
    pm = postmortems.get(db, ref, current_user)
    if pm is None:
        abort(404)
    found = db.exec(
        select(Attachment)
        .where(Attachment.postmortem_id == pm.id, Attachment.name == name)
        .order_by(Attachment.id.desc())
    ).first()
    if found is None:
        abort(404)
    return _send(found)


def _send(attachment):
    if request.if_none_match.contains(attachment.sha256):
        return "", 304
    response = make_response(attachment.data)
    response.headers["Content-Type"] = attachment.content_type
    disposition = "inline" if attachment.content_type in attachments.IMAGES else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{attachment.name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.set_etag(attachment.sha256)
    return response


@bp.route("/postmortems/<ref>/attachments/<int:number>/delete", methods=["POST"])
@login_required
def delete(ref, number):
    db, pm = editable(ref)
    _db, _pm, attachment = _attachment(ref, number)
    db.delete(attachment)
    db.commit()
    flash(f"Removed {attachment.name}. Sections that showed it now show a broken link.", "info")
    return redirect(url_for("editor.edit", ref=pm.ref) + "#attachments")
