"""The OpenAPI 3 description of /api/v1, assembled from the API modules.

Each module that serves /api/v1 routes declares OPENAPI_PATHS (and, if needed,
OPENAPI_SCHEMAS); tests/test_openapi.py checks that every route is described and that every
described path is served.
"""

import importlib

from flask import Blueprint, current_app, jsonify

bp = Blueprint("openapi", __name__)

# Modules whose OPENAPI_PATHS are merged, in this order.
API_MODULES = [
    "kb.web.api",
    "kb.web.digest",
    "kb.web.themes",
    "kb.web.figures",
    "kb.web.search",
    "kb.web.blameless_api",
]

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "title", "message"],
            "properties": {
                "status": {"type": "integer"},
                "title": {"type": "string"},
                "message": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        }
    },
}


def error_responses(*codes):
    """Standard error responses for an operation."""
    words = {
        400: "Bad request: the message names the field",
        401: "No valid session or API token",
        403: "Not allowed for this role",
        404: "Not found, or not visible to this user",
        409: "Conflict with the current version",
        413: "Body too large",
        422: "The document is not valid: errors name each field",
    }
    return {
        str(code): {
            "description": words[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code in codes
    }


def spec():
    """The whole description as a dict."""
    paths, schemas = {}, {"Error": ERROR}
    for name in API_MODULES:
        module = importlib.import_module(name)
        paths.update(getattr(module, "OPENAPI_PATHS", {}))
        schemas.update(getattr(module, "OPENAPI_SCHEMAS", {}))
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Hindsight API",
            "version": "1",
            "description": "Blameless postmortems: read, write, search and learn. "
            "Authenticate with `Authorization: Bearer <token>` (see `kb tokens create`).",
        },
        "servers": [{"url": current_app.config["BASE_URL"]}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.route("/api/v1/openapi.json")
def openapi_json():
    return jsonify(spec())
