"""The key figures: a dashboard of charts with their numbers, as CSV and through the API."""

import csv
import io
from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, render_template, request
from flask_login import current_user, login_required

from kb.db import get_session
from kb.insights import charts, dashboard
from kb.models import KINDS, SEVERITIES
from kb.months import MonthError, month_start, months_between, parse_month, shift_month
from kb.web import error_response, field_error
from kb.web.openapi import error_responses, ok

bp = Blueprint("figures", __name__)
DEFAULT_MONTHS = 12
MAX_MONTHS = 60


class RangeError(ValueError):
    """A bad from/to parameter; `field` names it."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


def _parse_month(field, text):
    try:
        return parse_month(text, earliest=1900, allow_future=True)
    except MonthError:
        raise RangeError(field, f"must be a month written YYYY-MM (got {text!r})") from None


def month_range(args, today=None):
    """(first, last) months from `from`/`to` (YYYY-MM); default the last 12 months."""
    today = today or datetime.now(UTC).date()
    last = _parse_month("to", args["to"]) if args.get("to") else month_start(today)
    if args.get("from"):
        first = _parse_month("from", args["from"])
    else:
        first = shift_month(last, 1 - DEFAULT_MONTHS)
    if first > last:
        raise RangeError("from", "must not be after `to`")
    if len(months_between(first, last)) > MAX_MONTHS:
        raise RangeError("from", f"the range may span at most {MAX_MONTHS} months")
    return first, last


def _dashboard():
    first, last = month_range(request.args)
    return dashboard.dashboard(get_session(), current_user, first, last)


@bp.route("/figures")
@login_required
def index():
    try:
        board = _dashboard()
    except RangeError as exc:
        return error_response(400, "Bad month range", f"{exc.field}: {exc}")
    labels = [m.month.strftime("%b %y") for m in board.months]
    hours = lambda v: None if v is None else round(v / 60, 1)  # noqa: E731
    figures = {
        "severity": charts.bar_chart(
            labels,
            {s: [m.by_severity[s] for m in board.months] for s in SEVERITIES},
            title="Incidents per month by severity",
        ),
        "kind": charts.bar_chart(
            labels,
            {k: [m.by_kind.get(k, 0) for m in board.months] for k in KINDS},
            title="Postmortems per month by kind",
        ),
        "ttd": charts.line_chart(
            labels,
            {
                "median": [hours(m.ttd_median) for m in board.months],
                "p90": [hours(m.ttd_p90) for m in board.months],
            },
            title="Time to detect (hours)",
            unit="h",
        ),
        "ttr": charts.line_chart(
            labels,
            {
                "median": [hours(m.ttr_median) for m in board.months],
                "p90": [hours(m.ttr_p90) for m in board.months],
            },
            title="Time to resolve (hours)",
            unit="h",
        ),
        "publish": charts.line_chart(
            labels,
            {"median": [m.publish_median_days for m in board.months]},
            title="Resolution to published postmortem (days, median)",
            unit="d",
        ),
        "change": charts.line_chart(
            labels,
            {
                "value": [
                    None if m.change_share is None else round(100 * m.change_share)
                    for m in board.months
                ]
            },
            title="Incidents triggered by a change: deploy or config (%)",
            unit="%",
        ),
        "premortems": charts.bar_chart(
            labels,
            {
                "pre-mortems": [m.premortems for m in board.months],
                "after a pre-mortem": [m.after_premortem for m in board.months],
                "foreseen": [m.foreseen for m in board.months],
            },
            title="Pre-mortems, and what happened after them",
        ),
    }
    return render_template(
        "figures/index.html",
        board=board,
        figures=figures,
        severities=SEVERITIES,
        kinds=KINDS,
        first=board.first.strftime("%Y-%m"),
        last=board.last.strftime("%Y-%m"),
        hours=hours,
    )


CSV_COLUMNS = (
    "month",
    *SEVERITIES,
    "incidents",
    "near_misses",
    "game_days",
    "ttd_median_minutes",
    "ttd_p90_minutes",
    "ttr_median_minutes",
    "ttr_p90_minutes",
    "resolved_to_published_median_days",
    "change_triggered",
    "change_share",
    "premortems",
    "after_premortem",
    "foreseen_by_premortem",
    "foreseen_share",
)


def _row(m):
    def r(value, digits=1):
        return None if value is None else round(value, digits)

    return {
        "month": m.month.strftime("%Y-%m"),
        **{s: m.by_severity[s] for s in SEVERITIES},
        "incidents": m.incidents,
        "near_misses": m.by_kind.get("near-miss", 0),
        "game_days": m.by_kind.get("game-day", 0),
        "ttd_median_minutes": r(m.ttd_median),
        "ttd_p90_minutes": r(m.ttd_p90),
        "ttr_median_minutes": r(m.ttr_median),
        "ttr_p90_minutes": r(m.ttr_p90),
        "resolved_to_published_median_days": r(m.publish_median_days),
        "change_triggered": m.change_triggered,
        "change_share": r(m.change_share, 3),
        "premortems": m.premortems,
        "after_premortem": m.after_premortem,
        "foreseen_by_premortem": m.foreseen,
        "foreseen_share": r(m.foreseen_share, 3),
    }


@bp.route("/figures.csv")
@login_required
def csv_download():
    try:
        board = _dashboard()
    except RangeError as exc:
        return error_response(400, "Bad month range", f"{exc.field}: {exc}")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for m in board.months:
        writer.writerow({k: "" if v is None else v for k, v in _row(m).items()})
    name = f"hindsight-figures-{board.first:%Y-%m}-to-{board.last:%Y-%m}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/api/v1/figures")
@login_required
def api_figures():
    try:
        board = _dashboard()
    except RangeError as exc:
        return field_error(exc.field, str(exc))
    return jsonify(
        {
            "from": board.first.strftime("%Y-%m"),
            "to": board.last.strftime("%Y-%m"),
            "months": [_row(m) for m in board.months],
            "actions": {
                "done": board.actions_done,
                "open": board.actions_open,
                "overdue": board.actions_overdue,
                "wont_do": board.actions_wont_do,
            },
            "premortems": {
                "premortems": board.premortems,
                "after_premortem": board.after_premortem,
                "foreseen": board.foreseen,
                "foreseen_share": None
                if board.foreseen_share is None
                else round(board.foreseen_share, 3),
            },
            "top_services": [{"service": s, "postmortems": n} for s, n in board.top_services],
            "top_themes": [
                {"id": i, "label": label, "factors": n} for i, label, n in board.top_themes
            ],
            "slowest_to_resolve": [
                {"ref": ref, "title": title, "ttr_minutes": round(minutes, 1)}
                for ref, title, minutes in board.slowest
            ],
        }
    )


OPENAPI_SCHEMAS = {
    "Figures": {
        "type": "object",
        "properties": {
            "from": {"type": "string", "example": "2026-01"},
            "to": {"type": "string", "example": "2026-12"},
            "months": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "month": {"type": "string", "example": "2026-01"},
                        **{c: {"type": "number", "nullable": True} for c in CSV_COLUMNS[1:]},
                    },
                },
            },
            "actions": {"type": "object", "additionalProperties": {"type": "integer"}},
            "premortems": {
                "type": "object",
                "description": "Pre-mortems published for changes planned in the range; the "
                "incidents, near misses and game days that name one (readable by this user); "
                "and how many of those a listed risk foresaw",
                "properties": {
                    "premortems": {"type": "integer"},
                    "after_premortem": {"type": "integer"},
                    "foreseen": {"type": "integer"},
                    "foreseen_share": {"type": "number", "nullable": True},
                },
            },
            "top_services": {"type": "array", "items": {"type": "object"}},
            "top_themes": {"type": "array", "items": {"type": "object"}},
            "slowest_to_resolve": {"type": "array", "items": {"type": "object"}},
        },
    }
}


def _month_parameter(name, description):
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}$"},
    }


def _openapi_paths():
    return {
        "/api/v1/figures": {
            "get": {
                "summary": "Key figures per month (published postmortems this user may see)",
                "parameters": [
                    _month_parameter("from", "First month, YYYY-MM (default: 12 months back)"),
                    _month_parameter("to", "Last month, YYYY-MM (default: this month)"),
                ],
                "responses": {
                    "200": ok("Figures", "The figures of each month in the range"),
                    **error_responses(400, 401),
                },
            }
        }
    }


OPENAPI_PATHS = _openapi_paths()
