"""Importing timeline entries in the browser: upload a Slack export, a PagerDuty incident's log
entries or a CSV, see the entries of the incident's window, untick those not worth keeping,
and add the rest to the timeline (a new revision, on top of the version the page showed).

Nothing is kept on the server between the two steps: each chosen entry travels back in the
confirming form as the value of its checkbox and is checked again there.
"""

import json
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required

from kb import editing, postmortems, timeline_sources, workflow
from kb.document import DocumentError, to_document
from kb.document_checks import format_datetime, parse_datetime
from kb.timeline_sources import SOURCES, SourceError
from kb.timeline_sources.entries import ENTRIES_MAX
from kb.timeline_sources.merge import already_there
from kb.web import postmortem_form
from kb.web.editor import base_version, editable

bp = Blueprint("timeline_import", __name__)
FORM_OVERHEAD = 64 * 1024  # the multipart envelope and the form's other fields
SOURCE_NAMES = {"slack": "Slack", "pagerduty": "PagerDuty", "csv": "CSV"}


def upload_limit(app):
    """The largest request an import may be: the upload and its envelope."""
    return app.config["TIMELINE_IMPORT_MAX_BYTES"] + FORM_OVERHEAD


def limits(app):
    """The import's bounds, from the settings."""
    return timeline_sources.Limits(
        upload=app.config["TIMELINE_IMPORT_MAX_BYTES"],
        unpacked=app.config["TIMELINE_IMPORT_MAX_UNPACKED"],
        files=app.config["TIMELINE_IMPORT_MAX_FILES"],
    )


def uploaded_files(files):
    """(name, bytes) of every file sent as `file` (one, or a folder's) or `folder`."""
    found = []
    for storage in [*files.getlist("file"), *files.getlist("folder")]:
        if storage and storage.filename:
            try:
                found.append((storage.filename, storage.read()))
            finally:  # an upload larger than memory's share is spooled to a temporary file
                storage.close()
    return found


def moment(value, tz, field):
    """A form or API time: ISO 8601 with a zone, or without one in zone `tz`; None if empty."""
    if not (value or "").strip():
        return None
    found = parse_datetime(postmortem_form.to_utc(value, tz))
    if found is None:
        raise SourceError("must be a date and time, such as 2026-03-02T09:14", field)
    return found


def read_upload(pm, form, files, tz, margin):
    """The Reading of an upload for `pm` (SourceError naming the field at fault)."""
    source = form.get("source", "")
    if source not in SOURCES:
        raise SourceError(f"must be one of {', '.join(SOURCES)}", "source")
    start, end = moment(form.get("from"), tz, "from"), moment(form.get("to"), tz, "to")
    window = timeline_sources.for_incident(to_document(pm), margin, start, end)
    return timeline_sources.read(
        source,
        uploaded_files(files),
        window,
        limits=limits(current_app),
        channel=(form.get("channel") or "").strip() or None,
        hint=pm.ref,
        tz=tz,
    )


def _tz_name():
    """The writer's time zone, as the editor keeps it (an IANA name; UTC if unknown)."""
    name = request.form.get("tz") or session.get("tz") or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


@bp.route("/postmortems/<ref>/timeline/import", methods=["GET", "POST"])
@login_required
def upload(ref):
    """GET: the form; POST: the entries of the window, each with a box to keep it."""
    _db, pm = editable(ref)
    tz_name = _tz_name()
    tz = postmortem_form.zone(tz_name)
    margin = current_app.config["TIMELINE_IMPORT_MARGIN_MINUTES"]
    if request.method == "GET":
        try:
            window = timeline_sources.for_incident(to_document(pm), margin)
            fields = {
                "from": postmortem_form.to_local(format_datetime(window.start), tz),
                "to": postmortem_form.to_local(format_datetime(window.end), tz),
            }
        except SourceError:  # no start time yet: the person gives the window
            fields = {}
        return _form(pm, tz_name, {"source": "slack", **fields})
    try:
        reading = read_upload(pm, request.form, request.files, tz, margin)
    except SourceError as exc:
        return _form(pm, tz_name, request.form, {exc.field: str(exc)}, status=422)
    return _preview(pm, tz_name, reading.entries, reading=reading, version=pm.version)


upload.max_content_length = upload_limit


def _form(pm, tz_name, values, errors=None, status=200):
    return render_template(
        "timeline_import/upload.html",
        pm=pm,
        tz=tz_name,
        values=values,
        errors=errors or {},
        sources=SOURCES,
        source_names=SOURCE_NAMES,
        max_mib=current_app.config["TIMELINE_IMPORT_MAX_BYTES"] // (1024 * 1024),
        margin=current_app.config["TIMELINE_IMPORT_MARGIN_MINUTES"],
        entries_max=ENTRIES_MAX,
    ), status


def _preview(pm, tz_name, entries, *, version, reading=None, chosen=None, error=None, status=200):
    """The entries with their boxes: all ticked (or those `chosen`), except those the timeline
    holds already."""
    tz = postmortem_form.zone(tz_name)
    there = already_there(to_document(pm)["timeline"], entries)
    rows = [
        {
            "value": json.dumps(entry.as_row(), ensure_ascii=False),
            "at": entry.at.astimezone(tz),
            "text": entry.text,
            "source": entry.source,
            "there": entry.key in there,
            "checked": entry.key not in there and (chosen is None or entry.key in chosen),
        }
        for entry in entries
    ]
    source = request.form.get("source", "")
    return render_template(
        "timeline_import/preview.html",
        pm=pm,
        tz=tz_name,
        rows=rows,
        reading=reading,
        version=version,
        source=source if source in SOURCES else "",
        source_name=SOURCE_NAMES.get(source, "the file"),
        error=error,
        note=request.form.get("note", ""),
    ), status


@bp.route("/postmortems/<ref>/timeline/import/confirm", methods=["POST"])
@login_required
def confirm(ref):
    """Add the ticked entries to the timeline, on top of the version the preview showed."""
    db, pm = editable(ref)
    tz_name = _tz_name()
    version = base_version() or pm.version
    values = request.form.getlist("entry")[: ENTRIES_MAX + 1]
    try:
        entries = timeline_sources.checked([json.loads(v) for v in values])
    except (ValueError, SourceError):
        flash("The chosen entries were damaged on the way: choose the file again.", "error")
        return redirect(url_for("timeline_import.upload", ref=pm.ref))
    if not entries:
        flash("Nothing was added: no entry was chosen.", "info")
        return redirect(url_for("editor.edit", ref=pm.ref) + "#s-timeline")
    name = SOURCE_NAMES.get(request.form.get("source", ""), "a file")
    try:
        pm, added, duplicates = editing.add_timeline_entries(
            db,
            pm,
            entries,
            current_user,
            base_version=version,
            note=f"imported timeline entries from {name}",
            amendment=request.form.get("note", ""),
        )
    except postmortems.Conflict as exc:
        db.rollback()
        current = exc.postmortem
        message = (
            f"{current.ref} was saved by someone else while you were choosing (it is now "
            f"version {current.version}). Nothing was added, and your choice is kept below: "
            "add the entries to the current version, or go back to the editor."
        )
        return _again(current, tz_name, entries, message, current.version, 409)
    except (DocumentError, workflow.WorkflowError) as exc:
        db.rollback()
        status = 403 if isinstance(exc, workflow.NotAllowed) else 422
        return _again(pm, tz_name, entries, f"Nothing was added: {exc}", version, status)
    db.commit()
    there = f" ({duplicates} {'were' if duplicates != 1 else 'was'} in it already)"
    flash(
        f"Added {len(added)} entr{'y' if len(added) == 1 else 'ies'} from {name} to the "
        f"timeline{there if duplicates else ''}.",
        "info",
    )
    return redirect(url_for("editor.edit", ref=pm.ref) + "#s-timeline")


confirm.max_content_length = upload_limit


def _again(pm, tz_name, entries, message, version, status):
    chosen = {entry.key for entry in entries}
    return _preview(
        pm, tz_name, entries, version=version, chosen=chosen, error=message, status=status
    )
