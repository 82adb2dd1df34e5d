"""Recurring themes and similar incidents: pages and /api/v1 routes.

Everything here reads stored rows (see kb.insights.themes) through the visibility filter;
nothing fits a model or imports scikit-learn.
"""

from datetime import UTC, datetime

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from kb import postmortems
from kb.db import get_session
from kb.insights import charts, similar
from kb.insights import themes as domain
from kb.insights.themes import curation
from kb.models import Theme
from kb.months import month_start
from kb.web import field_error, params

bp = Blueprint("themes", __name__)
PAGE_SIZE = 20
MAX_TEXT = 20_000
MAX_LIMIT = 20  # similar incidents in one answer
LIMIT = params.Query.number("limit", 5, 1, MAX_LIMIT)
SPLIT_LIMIT = 300  # factors listed in the split form, most central first


@bp.app_context_processor
def _similar_helpers():
    """`similar_for(pm)` and `themes_of(pm)` for the postmortem page's partial."""

    def similar_for(pm, limit=5):
        if not current_user.is_authenticated or pm.status != "published":
            return []
        return similar.similar_to(get_session(), current_user, pm, limit=limit)

    def themes_of(pm):
        if not current_user.is_authenticated:
            return []
        found = domain.theme_of_factors(get_session(), current_user, [f.id for f in pm.factors])
        return sorted({theme for theme in found.values()})

    return {"similar_for": similar_for, "themes_of": themes_of}


@bp.route("/themes")
@login_required
def index():
    db = get_session()
    sort = request.args.get("sort", "size")
    sort = sort if sort in ("size", "growth") else "size"
    today = datetime.now(UTC).date()
    views = domain.list_themes(db, current_user, today=today, sort=sort)
    recurring = [v for v in views if v.recurring]
    one_off = [v for v in views if not v.recurring]
    page = params.arg_number("page", 1)
    pages = max(1, -(-len(recurring) // PAGE_SIZE))
    shown = recurring[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    domain.add_details(shown + one_off, db, current_user, quotes=3)
    return render_template(
        "themes/index.html",
        themes=shown,
        recurring=len(recurring),
        one_off=one_off,
        run=domain.last_run(db),
        month=month_start(today),
        sort=sort,
        page=page,
        pages=pages,
        sparkline=_sparkline,
    )


@bp.route("/themes/<int:theme_id>")
@login_required
def show(theme_id):
    db = get_session()
    view = domain.get_theme(db, current_user, theme_id)
    if view is None:
        abort(404)  # the same whether it does not exist or holds nothing this user may see
    today = month_start(datetime.now(UTC).date())
    months = view.sparkline(today, months=24)
    chart = charts.bar_chart(
        [d.strftime("%b %y") for d, _n in months],
        {"factors": [n for _d, n in months]},
        title="Factors in this theme per month (last 24 months)",
        height=160,
    )
    admin = current_user.role == "admin"
    return render_template(
        "themes/show.html",
        theme=view,
        chart=chart,
        months=months,
        admin=admin,
        # Admins may see every factor: the curation forms list them all.
        members=curation.members(db, theme_id) if admin else [],
        others=curation.theme_choices(db, theme_id) if admin else [],
        split_limit=SPLIT_LIMIT,
    )


def _curate(theme_id, edit, done):
    """Run one admin edit of the themes from a form, commit, and go back to a theme page."""
    if current_user.role != "admin":
        abort(403)
    db = get_session()
    try:
        target = edit(db)
    except curation.CurationError as exc:
        db.rollback()
        flash(str(exc), "error")
        if db.get(Theme, theme_id) is None:
            return redirect(url_for("themes.index"))
        return redirect(url_for("themes.show", theme_id=theme_id) + "#curate")
    db.commit()
    flash(done(target), "info")
    return redirect(url_for("themes.show", theme_id=target.id))


@bp.route("/themes/<int:theme_id>/rename", methods=["POST"])
@login_required
def rename(theme_id):
    label = request.form.get("label", "")
    return _curate(
        theme_id,
        lambda db: curation.rename(db, current_user, theme_id, label),
        lambda t: f"Label pinned: {t.label}." if t.pinned else "Label unpinned.",
    )


@bp.route("/themes/<int:theme_id>/merge", methods=["POST"])
@login_required
def merge(theme_id):
    into = request.form.get("into", "")
    into_id = int(into) if into.isdigit() else None
    if into_id is None and current_user.role == "admin":
        flash("Choose the theme to merge this one into.", "error")
        return redirect(url_for("themes.show", theme_id=theme_id) + "#curate")
    return _curate(
        theme_id,
        lambda db: curation.merge(db, current_user, theme_id, into_id),
        lambda t: f"Merged into {t.label}.",
    )


@bp.route("/themes/<int:theme_id>/split", methods=["POST"])
@login_required
def split(theme_id):
    chosen = request.form.getlist("factor")
    label = request.form.get("label", "")
    return _curate(
        theme_id,
        lambda db: curation.split(db, current_user, theme_id, chosen, label),
        lambda t: f"Split off as a new theme: {t.label}.",
    )


def _sparkline(view, month):
    counts = [n for _d, n in view.sparkline(month)]
    return charts.sparkline(counts, label="Factors per month, last 12 months")


# --- API ----------------------------------------------------------------------------------


@bp.route("/api/v1/themes")
@login_required
def api_themes():
    db = get_session()
    views = domain.list_themes(db, current_user)
    domain.add_details(views, db, current_user, quotes=3)
    refs = domain.factor_refs(db, current_user)
    run = domain.last_run(db)
    return jsonify(
        built_at=run.built_at.isoformat() if run else None,
        total=len(views),
        items=[_theme_json(v, refs.get(v.id, [])) for v in views],
    )


def _theme_json(view, factors):
    return {
        "id": view.id,
        "label": view.label,
        "terms": view.terms,
        "size": view.size,
        "recurring": view.recurring,
        "postmortems": sorted({ref for ref, _index in factors}),
        "factors": [{"ref": ref, "index": index} for ref, index in factors],
        "quotes": [
            {"ref": q["ref"], "index": q["index"], "text": q["text"], "title": q["title"]}
            for q in view.quotes
        ],
        "per_month": {d.strftime("%Y-%m"): n for d, n in sorted(view.per_month.items())},
        "severities": dict(view.severities),
        "services": dict(view.services),
        "actions": {"done": view.actions_done, "total": view.actions_total},
    }


@bp.route("/api/v1/postmortems/<ref>/similar")
@login_required
def api_similar_to(ref):
    db = get_session()
    pm = postmortems.get(db, ref, current_user)
    if pm is None:
        abort(404)
    found = similar.similar_to(db, current_user, pm, LIMIT.read())
    return jsonify(ref=pm.ref, title=pm.title, items=[_similar_json(s) for s in found])


@bp.route("/api/v1/similar", methods=["GET", "POST"])
@login_required
def api_suggest():
    if request.method == "POST":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return field_error("body", 'must be a JSON object like {"text": "..."}')
        parts = [body.get(k) for k in ("title", "summary", "text")]
        factors = body.get("factors") or []
        if not all(p is None or isinstance(p, str) for p in parts) or not isinstance(factors, list):
            return field_error("text", "title, summary and text must be strings, factors a list")
        text = " ".join([p for p in parts if p] + [f for f in factors if isinstance(f, str)])
        services = body.get("services") or []
        limit = params.whole_number(body.get("limit", 5), "limit", 1, MAX_LIMIT)
    else:
        text = request.args.get("text", "")
        services = request.args.getlist("service")
        limit = LIMIT.read()
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        return field_error("services", "must be a list of service names")
    if len(text) > MAX_TEXT:
        return field_error("text", f"must be at most {MAX_TEXT:,} characters")
    found = similar.suggest(get_session(), current_user, text, limit=limit, services=services)
    return jsonify(items=[_similar_json(s) for s in found])


def _similar_json(item):
    started = item["started_at"]
    return {
        "ref": item["ref"],
        "title": item["title"],
        "score": item["score"],
        "severity": item["severity"],
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ") if started else None,
        "shared": item["shared"],
    }
