"""POST /api/v1/blameless: the blameless-language check of a piece of text, for editors and
tools outside Hindsight (the same checker as the editor and the review panel)."""

from flask import Blueprint, jsonify, request
from flask_login import login_required

from kb import accounts, blameless
from kb.db import get_session

bp = Blueprint("blameless_api", __name__, url_prefix="/api/v1")

MAX_TEXT = 50_000  # characters: a long postmortem is about 30,000; checking 50,000 takes < 1 s
MAX_NAMES = 200
MAX_NAME = 100


def _error(field, message, status, title):
    from kb.web import field_error

    return field_error(field, message, status=status, title=title)


@bp.route("/blameless", methods=["POST"])
@login_required
def check():
    """The findings of the blameless check in `text` (people named in `names` count too)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error(
            "body",
            "must be a JSON object (send Content-Type: application/json)",
            400,
            "Bad Request",
        )
    text = data.get("text")
    if not isinstance(text, str):
        return _error("text", "is required, as a string", 422, "Unprocessable Entity")
    if len(text) > MAX_TEXT:
        return _error(
            "text",
            f"is {len(text):,} characters long; the limit is {MAX_TEXT:,} (check it in parts)",
            413,
            "Payload Too Large",
        )
    names = data.get("names", [])
    if (
        not isinstance(names, list)
        or len(names) > MAX_NAMES
        or not all(isinstance(n, str) and len(n) <= MAX_NAME for n in names)
    ):
        return _error(
            "names",
            f"must be a list of at most {MAX_NAMES} names of at most {MAX_NAME} characters",
            422,
            "Unprocessable Entity",
        )
    people = [*accounts.active_names(get_session()), *names]
    findings = [
        {
            "start": h.start,
            "end": h.end,
            "text": h.text,
            "rule": h.rule,
            "message": h.message,
            "suggestion": h.suggestion,
        }
        for h in blameless.check_text(text, names=people)
    ]
    return jsonify(findings=findings)


OPENAPI_SCHEMAS = {
    "BlamelessRequest": {
        "type": "object",
        "required": ["text"],
        "properties": {
            "text": {"type": "string", "maxLength": MAX_TEXT},
            "names": {
                "type": "array",
                "maxItems": MAX_NAMES,
                "items": {"type": "string", "maxLength": MAX_NAME},
                "description": "People's names to count as people, besides the users'",
            },
        },
    },
    "BlamelessFindings": {
        "type": "object",
        "required": ["findings"],
        "properties": {
            "findings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["start", "end", "text", "rule", "suggestion"],
                    "properties": {
                        "start": {"type": "integer", "description": "Offset in text"},
                        "end": {"type": "integer", "description": "Offset past the passage"},
                        "text": {"type": "string"},
                        "rule": {"type": "string"},
                        "message": {"type": "string"},
                        "suggestion": {"type": "string"},
                    },
                },
            }
        },
    },
}


def _openapi_paths():
    from kb.web.openapi import error_responses

    return {
        "/api/v1/blameless": {
            "post": {
                "summary": "Check text for blaming language; each finding has a suggestion",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/BlamelessRequest"}
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The passages found, in the order of the text",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/BlamelessFindings"}
                            }
                        },
                    },
                    **error_responses(400, 401, 413, 422),
                },
            }
        }
    }


OPENAPI_PATHS = _openapi_paths()
