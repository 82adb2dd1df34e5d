"""Parameters and JSON from requests: one parser for whole numbers, declared query
parameters that are read and described (OpenAPI) from one line, one limit on JSON nesting.

Every whole number a request carries (a URL segment, a query parameter, a form field, a JSON
value) goes through `whole_number`, so "²" (a digit to str.isdigit(), not to int()), "1_000"
(a number to int(), not to a person) and numbers no column holds all get the same clear 400
naming the parameter, instead of reaching int() or the database.
"""

import re
from datetime import UTC, date, datetime

from flask import request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from kb.models import MAX_INT
from kb.months import month_begins, month_ends, parse_month

MAX_PAGE = 100_000  # far past the last page of any listing, and a bounded OFFSET
MAX_JSON_DEPTH = 32  # a document is 4 deep; a JSON parser recurses once per level
_DIGITS = re.compile(r"[0-9]{1,10}")  # ASCII digits only: \d and isdigit() take "²" and "٣"


class BadParameter(BadRequest):
    """A request parameter that is not what it must be; the message names it."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def whole_or_none(raw, low=0, high=MAX_INT):
    """`raw` (text of ASCII digits, or a JSON integer) as an int from low to high, else None."""
    if isinstance(raw, str) and _DIGITS.fullmatch(raw):
        value = int(raw)
    elif isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    else:
        return None
    return value if low <= value <= high else None


def whole_number(raw, field, low=0, high=MAX_INT):
    """`raw` as an int from low to high, or BadParameter naming `field`."""
    value = whole_or_none(raw, low, high)
    if value is None:
        raise BadParameter(field, f"must be a whole number from {low} to {high}")
    return value


def arg_number(name, default, low=1, high=MAX_PAGE):
    """A whole-number query parameter; `default` when it is absent or empty."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    return whole_number(raw, name, low, high)


def arg_choice(name, allowed, default=None):
    """A query parameter that must be one of `allowed`; `default` when it is absent."""
    value = request.args.get(name)
    if value is None:
        return default
    if value not in allowed:
        raise BadParameter(name, f"must be one of {', '.join(allowed)}")
    return value


def arg_day_or_month(name, end=False):
    """A date (2026-03-02) or a month (2026-03) as the UTC moment it begins, or, with `end`,
    the moment the range it names ends (the last second of the day; the next month's start).
    None when absent."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        if len(raw) == 7:
            month = parse_month(raw, earliest=1, allow_future=True)
            return month_ends(month) if end else month_begins(month)
        day = date.fromisoformat(raw)
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return moment.replace(hour=23, minute=59, second=59) if end else moment
    except ValueError:
        raise BadParameter(name, "must be a date (2026-03-02) or a month (2026-03)") from None


class Query:
    """A declared query parameter: `read()` parses it from the request, `openapi()` describes
    it; both come from the same declaration, so the description cannot drift."""

    def __init__(self, name, schema, read, description=None):
        self.name, self.schema, self._read, self.description = name, schema, read, description

    def read(self):
        """The parsed value, or BadParameter naming the parameter."""
        return self._read(self.name)

    def openapi(self):
        """The OpenAPI parameter object."""
        described = {"name": self.name, "in": "query", "required": False, "schema": self.schema}
        if self.description:
            described["description"] = self.description
        return described

    @classmethod
    def choice(cls, name, allowed, default=None):
        """One of `allowed`; `default` when absent."""
        schema = {"type": "string", "enum": list(allowed)}
        return cls(name, schema, lambda n: arg_choice(n, allowed, default))

    @classmethod
    def text(cls, name, description=None):
        """Any text; None when absent or empty."""
        return cls(name, {"type": "string"}, lambda n: request.args.get(n) or None, description)

    @classmethod
    def number(cls, name, default, low=1, high=MAX_PAGE):
        """A whole number from low to high; `default` when absent or empty."""
        schema = {"type": "integer", "minimum": low, "maximum": high, "default": default}
        return cls(name, schema, lambda n: arg_number(n, default, low, high))

    @classmethod
    def day_or_month(cls, name, end=False):
        """A date or a month, as the moment it begins (or, with `end`, ends)."""
        schema = {"type": "string", "description": "YYYY-MM or YYYY-MM-DD"}
        return cls(name, schema, lambda n: arg_day_or_month(n, end))


def read_all(queries):
    """{name: value} of declared query parameters."""
    return {q.name: q.read() for q in queries}


class WholeNumberConverter(IntegerConverter):
    """`<int:...>` in a route: ASCII digits up to MAX_INT, anything else is not found."""

    regex = r"[0-9]+"

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_INT, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)


def json_depth(value, limit=MAX_JSON_DEPTH):
    """How deeply lists and objects nest in `value` (counting stops just past `limit`)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:  # a loop, not recursion: the value may be as deep as the parser allowed
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > limit:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def json_body_problem():
    """Why the request's JSON body cannot be taken (too deeply nested), or None."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # the parser gave up on the nesting before we could count it
        data = None
        too_deep = True
    else:
        too_deep = json_depth(data) > MAX_JSON_DEPTH
    if too_deep:
        return f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep"
    return None
