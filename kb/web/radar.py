"""The risk radar (kb.insights.radar): a postmortem's page of it, and /api/v1 routes for a
saved postmortem and for one still being written."""

from flask import Blueprint, abort, jsonify, render_template, request, url_for
from flask_login import current_user, login_required

from kb import audit, postmortems
from kb.db import get_session
from kb.document import format_datetime
from kb.insights import radar as domain
from kb.models import TRIGGERS
from kb.web.errors import bad_request
from kb.web.openapi import JSON, error_responses, ok, path_parameter, ref

bp = Blueprint("radar", __name__)


def _visible(ref_):
    pm = postmortems.get(get_session(), ref_, current_user)
    if pm is None:
        abort(404)  # the same answer whether it does not exist or may not be seen
    return pm


def _clean(services, trigger, text):
    try:
        return domain.clean_input(services, trigger, text)
    except domain.RadarInputError as exc:
        raise bad_request(exc.field, exc.message) from None


@bp.route("/api/v1/postmortems/<ref>/radar")
@login_required
def api_for_postmortem(ref):
    pm = _visible(ref)
    found = domain.for_postmortem(get_session(), current_user, pm)
    return jsonify(radar_json(found, pm.ref))


@bp.route("/api/v1/radar", methods=["POST"])
@login_required
def api_for_text():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request(
            "body", 'must be a JSON object like {"services": [], "trigger": "deploy", "text": ""}'
        )
    services, trigger, text = _clean(
        body.get("services", []), body.get("trigger"), body.get("text")
    )
    exclude, of = None, body.get("ref")
    if of is not None:
        if not isinstance(of, str) or not of:
            raise bad_request("ref", "must be the ref of the postmortem being written")
        exclude = _visible(of)
    found = domain.radar(
        get_session(),
        current_user,
        services,
        trigger,
        text,
        exclude_id=exclude.id if exclude else None,
    )
    return jsonify(radar_json(found, exclude.ref if exclude else None))


@bp.route("/postmortems/<ref>/radar", methods=["GET", "POST"])
@login_required
def page(ref):
    """The radar of a postmortem; its form asks again for other services, trigger or text
    (posted: the text is too long for an address, and changes nothing)."""
    pm = _visible(ref)
    db = get_session()
    if pm.visibility == "restricted":  # the page shows its text, as its own page does
        audit.record(db, current_user, "view-restricted", pm.ref)
        db.commit()
    asked = request.form if request.method == "POST" else {}
    services = (
        [s for s in asked.get("services", "").split(",") if s.strip()]
        if "services" in asked
        else pm.label_values("services")
    )
    trigger = asked.get("trigger", pm.trigger)
    text = asked.get("text", domain.text_of(pm))
    error, found = None, None
    try:
        services, trigger, text = domain.clean_input(services, trigger, text)
    except domain.RadarInputError as exc:
        error = f"{exc.field}: {exc.message}."
    else:
        found = domain.radar(db, current_user, services, trigger, text, exclude_id=pm.id)
    return render_template(
        "radar/page.html",
        pm=pm,
        radar=found,
        error=error,
        services=", ".join(services) if isinstance(services, list) else "",
        trigger=trigger,
        text=text,
        triggers=TRIGGERS,
        max_text=domain.MAX_TEXT,
    ), (400 if error else 200)


# --- JSON ---------------------------------------------------------------------------------


def _entry(entry):
    return {"source": entry.source, "risk": entry.risk}


def radar_json(found, ref_=None):
    """The radar as the API answers it."""
    share = found.change_share
    return {
        "ref": ref_,
        "services": found.services,
        "trigger": found.trigger,
        "incidents": found.incidents,
        "themes": [
            {
                "id": t.id,
                "label": t.label,
                "count": t.count,
                "url": url_for("themes.show", theme_id=t.id),
                "latest": {
                    "ref": t.latest_ref,
                    "title": t.latest_title,
                    "started_at": format_datetime(t.latest_at),
                }
                if t.latest_ref
                else None,
                **_entry(t),
            }
            for t in found.themes
        ],
        "similar": [
            {
                "ref": s.ref,
                "title": s.title,
                "kind": s.kind,
                "started_at": format_datetime(s.started_at),
                "score": s.score,
                "shared": {"services": s.services, "terms": s.terms, "themes": s.themes},
                **_entry(s),
            }
            for s in found.similar
        ],
        "open_actions": {
            "total": found.open_total,
            "overdue": found.overdue_total,
            "items": [
                {
                    "title": a.title,
                    "owner": a.owner,
                    "due": a.due.isoformat() if a.due else None,
                    "overdue": a.overdue,
                    "status": a.status,
                    "ref": a.ref,
                    "postmortem_title": a.postmortem_title,
                    "services": a.services,
                    **_entry(a),
                }
                for a in found.open_actions
            ],
        },
        "change_share": {
            "trigger": share.trigger,
            "matching": share.matching,
            "total": share.total,
            "share": None if share.share is None else round(share.share, 4),
            "by_trigger": share.by_trigger,
            "overall": {
                "matching": share.overall_matching,
                "total": share.overall_total,
                "share": None if share.overall_share is None else round(share.overall_share, 4),
            },
            **_entry(share),
        },
    }


# --- OpenAPI ------------------------------------------------------------------------------

_TEXT = {"type": "string"}
_ENTRY = {
    "source": {**_TEXT, "description": "Where the entry comes from, to quote in the risk"},
    "risk": {**_TEXT, "description": "A risk to suggest, in words"},
}
_NAMES = {"type": "array", "items": _TEXT}
_TIME = {"type": "string", "format": "date-time", "nullable": True}
_SHARE = {"type": "number", "nullable": True, "minimum": 0, "maximum": 1}
_COUNT = {"type": "integer", "minimum": 0}

OPENAPI_SCHEMAS = {
    "Radar": {
        "type": "object",
        "description": "What past incidents say about a change, counted over the published "
        "incidents and near misses the caller may see.",
        "required": ["services", "trigger", "incidents", "themes", "similar", "open_actions"],
        "properties": {
            "ref": {**_TEXT, "nullable": True, "description": "The postmortem left out"},
            "services": _NAMES,
            "trigger": {"type": "string", "enum": list(TRIGGERS)},
            "incidents": {**_COUNT, "description": "Past incidents of these services"},
            "themes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "label", "count", "source", "risk"],
                    "properties": {
                        "id": {"type": "integer"},
                        "label": _TEXT,
                        "count": {**_COUNT, "description": "Past incidents in the theme"},
                        "url": _TEXT,
                        "latest": {
                            "type": "object",
                            "nullable": True,
                            "properties": {"ref": _TEXT, "title": _TEXT, "started_at": _TIME},
                        },
                        **_ENTRY,
                    },
                },
            },
            "similar": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["ref", "title", "kind", "score", "source", "risk"],
                    "properties": {
                        "ref": _TEXT,
                        "title": _TEXT,
                        "kind": _TEXT,
                        "started_at": _TIME,
                        "score": {"type": "number"},
                        "shared": {
                            "type": "object",
                            "properties": {"services": _NAMES, "terms": _NAMES, "themes": _NAMES},
                        },
                        **_ENTRY,
                    },
                },
            },
            "open_actions": {
                "type": "object",
                "required": ["total", "overdue", "items"],
                "properties": {
                    "total": _COUNT,
                    "overdue": _COUNT,
                    "items": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["title", "overdue", "ref", "source", "risk"],
                            "properties": {
                                "title": _TEXT,
                                "owner": {**_TEXT, "nullable": True},
                                "due": {"type": "string", "format": "date", "nullable": True},
                                "overdue": {"type": "boolean"},
                                "status": _TEXT,
                                "ref": _TEXT,
                                "postmortem_title": _TEXT,
                                "services": _NAMES,
                                **_ENTRY,
                            },
                        },
                    },
                },
            },
            "change_share": {
                "type": "object",
                "required": ["trigger", "matching", "total", "share"],
                "properties": {
                    "trigger": _TEXT,
                    "matching": _COUNT,
                    "total": _COUNT,
                    "share": _SHARE,
                    "by_trigger": {"type": "object", "additionalProperties": _COUNT},
                    "overall": {
                        "type": "object",
                        "properties": {"matching": _COUNT, "total": _COUNT, "share": _SHARE},
                    },
                    **_ENTRY,
                },
            },
        },
    },
    "RadarRequest": {
        "type": "object",
        "properties": {
            "services": {
                "type": "array",
                "maxItems": domain.MAX_SERVICES,
                "items": {"type": "string", "maxLength": 60},
                "description": "Service names as documents write them",
            },
            "trigger": {"type": "string", "enum": list(TRIGGERS), "default": "unknown"},
            "text": {
                "type": "string",
                "maxLength": domain.MAX_TEXT,
                "description": "What is written so far: title, the change, the other sections",
            },
            "ref": {
                "type": "string",
                "description": "The saved postmortem being written, left out of the results",
            },
        },
    },
}

OPENAPI_PATHS = {
    "/api/v1/postmortems/{ref}/radar": {
        "get": {
            "summary": "The risk radar of a postmortem: its services, trigger and text",
            "parameters": [path_parameter("ref")],
            "responses": {"200": ok("Radar"), **error_responses(401, 404)},
        }
    },
    "/api/v1/radar": {
        "post": {
            "summary": "The risk radar of a change not saved yet: services, trigger, text",
            "requestBody": {"required": True, "content": {JSON: {"schema": ref("RadarRequest")}}},
            "responses": {"200": ok("Radar"), **error_responses(400, 401, 404)},
        }
    },
}
