"""The OpenAPI 3 description of /api/v1, assembled from the API modules.

Each module that serves /api/v1 routes has its OPENAPI_PATHS (and, if needed, OPENAPI_SCHEMAS)
listed in API_MODULES; tests/test_openapi.py checks that every route is described and that
every described path is served. The helpers below write the parts every description repeats.
"""

import importlib

from flask import Blueprint, current_app, jsonify

from kb.web.errors import ERROR_SCHEMA, error_responses

__all__ = ["error_responses", "ok", "path_parameter", "ref", "spec"]

bp = Blueprint("openapi", __name__)

# Modules whose OPENAPI_PATHS are merged, in this order.
API_MODULES = [
    "kb.web.api_openapi",
    "kb.web.timeline_import_api",
    "kb.web.digest",
    "kb.web.themes_openapi",
    "kb.web.figures",
    "kb.web.search",
    "kb.web.blameless_api",
    "kb.web.radar",
]
JSON = "application/json"


def ref(name):
    """A reference to a schema of components/schemas."""
    return {"$ref": f"#/components/schemas/{name}"}


def ok(schema, description="OK"):
    """A JSON response with this schema (a dict, or the name of a component schema)."""
    if isinstance(schema, str):
        schema = ref(schema)
    return {"description": description, "content": {JSON: {"schema": schema}}}


def path_parameter(name, kind="string"):
    """A parameter in the path."""
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def spec():
    """The whole description as a dict."""
    paths, schemas = {}, {"Error": ERROR_SCHEMA}
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
