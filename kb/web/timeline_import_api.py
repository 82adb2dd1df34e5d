"""Importing timeline entries through the API: POST a file (multipart) to read the entries of
the incident's window (`dry_run=true` answers them and changes nothing), or POST the entries
you chose (JSON) to add them, with the `version` you read, like every other write."""

from flask import Blueprint, abort, current_app, jsonify, request
from flask_login import current_user, login_required

from kb import editing, postmortems, timeline_sources, workflow
from kb.db import get_session
from kb.document import DocumentError, to_document
from kb.timeline_sources import SOURCES, SourceError
from kb.timeline_sources.entries import ENTRIES_MAX, SOURCE_MAX, TEXT_MAX
from kb.timeline_sources.merge import already_there
from kb.web import params, postmortem_form
from kb.web import timeline_import as pages
from kb.web.errors import ApiError
from kb.web.errors import bad_request as _bad
from kb.web.openapi import error_responses, ok, path_parameter, ref

bp = Blueprint("timeline_api", __name__, url_prefix="/api/v1")
DRY_RUN = params.Query.choice("dry_run", ("true", "false"), "false")
MARGIN_MAX = 24 * 60  # minutes


@bp.route("/postmortems/<ref>/timeline/import", methods=["POST"])
@login_required
def import_timeline(ref):
    if current_user.role not in ("author", "admin"):
        raise ApiError(403, "Forbidden", [("", "Only authors and admins can write postmortems.")])
    db = get_session()
    pm = postmortems.get(db, ref, current_user)
    if pm is None:
        abort(404)
    dry_run = DRY_RUN.read() == "true"
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _bad("body", "must be a JSON object of entries and version")
        try:
            entries = timeline_sources.checked(body.get("entries"))
        except SourceError as exc:
            raise _bad(exc.field, str(exc)) from None
        reading, version, note = None, body.get("version"), body.get("note")
    else:
        reading = _reading(pm)
        entries = reading.entries
        version, note = request.form.get("version"), request.form.get("note")
    if dry_run:
        return jsonify(_answer(pm, entries, reading, dry_run=True))
    version = _version(version)
    if note is not None and not isinstance(note, str):
        raise _bad("note", "must be text: what this amendment changed")
    name = pages.SOURCE_NAMES.get(reading.source if reading else "", "a client")
    try:
        pm, added, duplicates = editing.add_timeline_entries(
            db,
            pm,
            entries,
            current_user,
            base_version=version,
            note=f"imported timeline entries from {name}",
            amendment=note or "",
        )
    except postmortems.Conflict as exc:
        db.rollback()
        current = postmortems.get(db, ref, current_user)
        if current is None:
            abort(404)
        raise ApiError(
            409,
            "Conflict",
            [("version", str(exc))],
            current_version=current.version,
        ) from None
    except DocumentError as exc:
        db.rollback()
        raise ApiError(
            422, "Unprocessable Entity", [(e.field, e.message) for e in exc.errors]
        ) from None
    except workflow.WorkflowError as exc:
        db.rollback()
        status = 403 if isinstance(exc, workflow.NotAllowed) else 422
        raise ApiError(
            status,
            "Forbidden" if status == 403 else "Unprocessable Entity",
            [(exc.field, str(exc))],
        ) from None
    db.commit()
    answer = _answer(pm, entries, reading, dry_run=False)
    answer.update(added=len(added), duplicates=duplicates)
    return jsonify(answer)


import_timeline.max_content_length = pages.upload_limit


def _reading(pm):
    if not request.files.getlist("file"):
        raise _bad("file", "send the file to import as multipart/form-data field `file`")
    margin = request.form.get("margin", "")
    margin = (
        params.whole_number(margin, "margin", 0, MARGIN_MAX)
        if margin
        else current_app.config["TIMELINE_IMPORT_MARGIN_MINUTES"]
    )
    tz = postmortem_form.zone(request.form.get("tz") or "UTC")
    try:
        return pages.read_upload(pm, request.form, request.files, tz, margin)
    except SourceError as exc:
        status, title = (400, "Bad Request") if exc.field == "source" else (422, "Not readable")
        raise ApiError(status, title, [(exc.field, str(exc))]) from None


def _version(raw):
    if isinstance(raw, str) and raw.strip():
        return params.whole_number(raw.strip(), "version", 1)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _bad("version", "is required: the version you read (or use dry_run=true)")
    return params.whole_number(raw, "version", 1)


def _answer(pm, entries, reading, *, dry_run):
    there = already_there(to_document(pm)["timeline"], entries)
    return {
        "dry_run": dry_run,
        "source": reading.source if reading else None,
        "channel": reading.channel if reading else None,
        "window": reading.window.as_dict() if reading else None,
        "entries": [{**e.as_row(), "already_there": e.key in there} for e in entries],
        "outside": reading.outside if reading else 0,
        "left_out": reading.left_out if reading else 0,
        "problems": reading.problems if reading else [],
        "added": 0,
        "duplicates": 0,
        "version": pm.version,
    }


_ENTRY = {
    "type": "object",
    "required": ["at", "text"],
    "properties": {
        "at": {"type": "string", "format": "date-time"},
        "text": {"type": "string", "minLength": 1, "maxLength": TEXT_MAX},
        "source": {"type": "string", "maxLength": SOURCE_MAX, "nullable": True},
    },
    "additionalProperties": False,
}
OPENAPI_SCHEMAS = {
    "TimelineImport": {
        "type": "object",
        "properties": {
            "dry_run": {"type": "boolean"},
            "source": {"type": "string", "enum": list(SOURCES), "nullable": True},
            "channel": {
                "type": "string",
                "nullable": True,
                "description": "Slack: the channel read",
            },
            "window": {
                "type": "object",
                "nullable": True,
                "properties": {
                    "from": {"type": "string", "format": "date-time"},
                    "to": {"type": "string", "format": "date-time"},
                },
            },
            "entries": {
                "type": "array",
                "items": {
                    **_ENTRY,
                    "properties": {**_ENTRY["properties"], "already_there": {"type": "boolean"}},
                    "additionalProperties": True,
                },
                "description": "The entries read (or sent), in time order; `already_there`: "
                "the timeline holds one with the same time and text, and it is not added again",
            },
            "outside": {"type": "integer", "description": "Entries read outside the window"},
            "left_out": {
                "type": "integer",
                "description": f"Entries in the window past the first {ENTRIES_MAX}",
            },
            "problems": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Rows or messages left out as unreadable",
            },
            "added": {"type": "integer", "description": "Entries added (0 in a dry run)"},
            "duplicates": {"type": "integer", "description": "Entries not added: already there"},
            "version": {
                "type": "integer",
                "description": "The postmortem's version (after the import, if it added any)",
            },
        },
    },
}
_DESCRIPTION = (
    "Send a file as multipart/form-data to read the entries of the incident's window: "
    "`dry_run=true` answers them and changes nothing; without it they are all added, on top "
    "of `version`. Or send JSON `{entries, version}` with the entries you chose (from a dry "
    "run) to add just those. Entries with the same time and text as one in the timeline are "
    "not added again; the rest go in time order, as a new revision (409 when `version` is no "
    "longer the current one). A published postmortem needs `note`, the amendment's note."
)
OPENAPI_PATHS = {
    "/api/v1/postmortems/{ref}/timeline/import": {
        "post": {
            "summary": "Import timeline entries from Slack, PagerDuty or a CSV",
            "description": _DESCRIPTION,
            "parameters": [path_parameter("ref"), DRY_RUN.openapi()],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["source", "file"],
                            "properties": {
                                "source": {"type": "string", "enum": list(SOURCES)},
                                "file": {
                                    "type": "string",
                                    "format": "binary",
                                    "description": "A Slack export's zip (or its folder's "
                                    "files, each named by its path), a PagerDuty log_entries "
                                    "answer, or a CSV of time,text[,source]",
                                },
                                "channel": {"type": "string", "description": "Slack"},
                                "from": {"type": "string", "description": "ISO 8601"},
                                "to": {"type": "string", "description": "ISO 8601"},
                                "margin": {"type": "integer", "minimum": 0, "maximum": MARGIN_MAX},
                                "tz": {
                                    "type": "string",
                                    "description": "The zone of times written without one",
                                },
                                "version": {"type": "integer", "minimum": 1},
                                "note": {"type": "string", "maxLength": 200},
                            },
                        }
                    },
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["entries", "version"],
                            "properties": {
                                "entries": {
                                    "type": "array",
                                    "maxItems": ENTRIES_MAX,
                                    "items": _ENTRY,
                                },
                                "version": {"type": "integer", "minimum": 1},
                                "note": {"type": "string", "maxLength": 200},
                            },
                        }
                    },
                },
            },
            "responses": {
                "200": ok(ref("TimelineImport")),
                **error_responses(400, 401, 403, 404, 409, 413, 422),
            },
        }
    }
}
