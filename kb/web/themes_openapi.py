"""The OpenAPI description of the themes and similar-incidents routes (kb/web/themes.py)."""

from kb.web import params
from kb.web.openapi import error_responses, ok, path_parameter, ref
from kb.web.themes import LIMIT, MAX_LIMIT

_SIMILAR_ITEM = {
    "type": "object",
    "required": ["ref", "title", "score", "shared"],
    "properties": {
        "ref": {"type": "string"},
        "title": {"type": "string"},
        "score": {"type": "number"},
        "severity": {"type": "string", "nullable": True},
        "started_at": {"type": "string", "format": "date-time", "nullable": True},
        "shared": {
            "type": "object",
            "properties": {
                "terms": {"type": "array", "items": {"type": "string"}},
                "services": {"type": "array", "items": {"type": "string"}},
                "themes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"id": {"type": "integer"}, "label": {"type": "string"}},
                    },
                },
            },
        },
    },
}


OPENAPI_SCHEMAS = {
    "SimilarIncident": _SIMILAR_ITEM,
    "SimilarList": {
        "type": "object",
        "properties": {
            "ref": {"type": "string"},
            "items": {"type": "array", "items": ref("SimilarIncident")},
        },
    },
    "Theme": {
        "type": "object",
        "required": ["id", "label", "terms", "size", "postmortems", "factors"],
        "properties": {
            "id": {"type": "integer"},
            "label": {"type": "string"},
            "terms": {"type": "array", "items": {"type": "string"}},
            "size": {"type": "integer", "description": "factors this user may see"},
            "recurring": {"type": "boolean"},
            "postmortems": {"type": "array", "items": {"type": "string"}},
            "factors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "ref": {"type": "string"},
                        "index": {"type": "integer", "description": "position, from 0"},
                    },
                },
            },
            "quotes": {
                "type": "array",
                "description": "the three most central factors, quoted",
                "items": {
                    "type": "object",
                    "properties": {
                        "ref": {"type": "string"},
                        "index": {"type": "integer"},
                        "text": {"type": "string"},
                        "title": {"type": "string", "description": "the postmortem's title"},
                    },
                },
            },
            "per_month": {"type": "object", "additionalProperties": {"type": "integer"}},
            "severities": {"type": "object", "additionalProperties": {"type": "integer"}},
            "services": {"type": "object", "additionalProperties": {"type": "integer"}},
            "actions": {
                "type": "object",
                "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}},
            },
        },
    },
    "ThemeList": {
        "type": "object",
        "properties": {
            "built_at": {"type": "string", "nullable": True},
            "total": {"type": "integer"},
            "items": {"type": "array", "items": ref("Theme")},
        },
    },
}


def _openapi_paths():
    limit = LIMIT.openapi()
    return {
        "/api/v1/themes": {
            "get": {
                "summary": "Recurring themes of contributing factors (visible factors only)",
                "responses": {
                    "200": ok("ThemeList", "Themes, recurring first"),
                    **error_responses(401),
                },
            }
        },
        "/api/v1/postmortems/{ref}/similar": {
            "get": {
                "summary": "The published postmortems most similar to this one",
                "parameters": [
                    path_parameter("ref"),
                    limit,
                ],
                "responses": {
                    "200": ok("SimilarList", "Most similar first"),
                    **error_responses(400, 401, 404),
                },
            }
        },
        "/api/v1/similar": {
            "get": {
                "summary": "Past incidents similar to typed text (for the editor)",
                "parameters": [
                    params.Query.text("text").openapi(),
                    {
                        "name": "service",
                        "in": "query",
                        "schema": {"type": "array", "items": {"type": "string"}},
                    },
                    limit,
                ],
                "responses": {
                    "200": ok("SimilarList", "Most similar first"),
                    **error_responses(400, 401),
                },
            },
            "post": {
                "summary": "Past incidents similar to a draft: title, summary, factors, services",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "title": {"type": "string"},
                                    "summary": {"type": "string"},
                                    "text": {"type": "string"},
                                    "factors": {"type": "array", "items": {"type": "string"}},
                                    "services": {"type": "array", "items": {"type": "string"}},
                                    "limit": {
                                        "type": "integer",
                                        "minimum": 1,
                                        "maximum": MAX_LIMIT,
                                    },
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": ok("SimilarList", "Most similar first"),
                    **error_responses(400, 401),
                },
            },
        },
    }


OPENAPI_PATHS = _openapi_paths()
