"""The one shape of a JSON error, the exception that carries it, and its OpenAPI schema.

Every JSON error of the application, whoever raises it, is
`{"error": {"status", "title", "message", "errors": [{"field", "message"}]}}`, plus any
extra keys an endpoint documents (a conflict's `current_version`, for example).
"""

from flask import jsonify


class ApiError(Exception):
    """An error answered as JSON: a status, a title and (field, message) pairs."""

    def __init__(self, status, title, errors, **extra):
        super().__init__(title)
        self.status, self.title, self.errors, self.extra = status, title, errors, extra

    def response(self):
        """The JSON response."""
        return error_json(self.status, self.title, self.errors, **self.extra)


def error_body(status, title, errors=(), message=None):
    """The body of an error: `message` defaults to the errors, one `field: message` each."""
    if message is None:
        message = "; ".join(f"{f}: {m}" if f else m for f, m in errors)
    return {
        "status": status,
        "title": title,
        "message": message,
        "errors": [{"field": f, "message": m} for f, m in errors],
    }


def error_json(status, title, errors=(), message=None, **extra):
    """An error as a JSON response (with `extra` keys beside `error`)."""
    return jsonify(error=error_body(status, title, errors, message), **extra), status


def field_error(field, message, status=400, title="Bad Request"):
    """A JSON error naming the field that is wrong (the API's answer to bad parameters)."""
    return error_json(status, title, [(field, message)])


def bad_request(field, message):
    """The ApiError of one bad field of a request."""
    return ApiError(400, "Bad Request", [(field, message)])


ERROR_SCHEMA = {
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
                        "required": ["field", "message"],
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        }
    },
}
ERROR_WORDS = {
    400: "Bad request: the message names the field",
    401: "No valid session or API token",
    403: "Not allowed for this role",
    404: "Not found, or not visible to this user",
    409: "Conflict with the current version",
    413: "Body too large",
    422: "The document is not valid: errors name each field",
    503: "Not available for a moment; retry shortly",
}


def error_responses(*codes, **words):
    """The OpenAPI responses of an operation's errors (`words`: other descriptions by code,
    written `_503="..."`)."""
    return {
        str(code): {
            "description": words.get(f"_{code}", ERROR_WORDS[code]),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code in codes
    }
