"""The digest in the browser: months, a preview as you would receive it, your settings, and
the unsubscribe link (signed, no sign-in needed), plus GET /api/v1/digest/YYYY-MM.

The e-mail's HTML carries inline styles, which the site's CSP forbids: the preview page shows
it in a sandboxed iframe from its own route, whose response has a CSP of its own.
"""

from datetime import UTC, datetime

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlmodel import select

from kb import accounts
from kb.db import get_session
from kb.digest import send, subscriptions
from kb.digest.compose import compose
from kb.digest.links import external
from kb.digest.render import render
from kb.models import Postmortem
from kb.months import (
    MonthError,
    last_ended_month,
    month_key,
    month_start,
    next_month,
    parse_month,
    previous_month,
)
from kb.web.errors import field_error
from kb.web.openapi import error_responses, ok, ref

bp = Blueprint("digest", __name__)
INDEX_MONTHS = 12

# The e-mail in the preview frame: its own inline styles, nothing else, framed by us only.
# allow-same-origin (without allow-scripts) lets the page's script fit the frame's height.
EMAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
    "sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox"
)


def _not_found(message):
    """Stop with a 404 that says why (the generic 404 text would hide it)."""
    from kb.web import error_response

    abort(make_response(error_response(404, "Not Found", message)))


def _month_or_404(text):
    try:
        return parse_month(text)
    except MonthError as exc:
        _not_found(str(exc))


def _rendered(month):
    """The digest of `month` exactly as the signed-in user would receive it."""
    db = get_session()
    digest = compose(db, current_user, month)
    token = subscriptions.make_token(current_app.config["SECRET_KEY"], current_user)
    content = render(
        digest,
        to=current_user.email,
        name=current_user.name,
        unsubscribe_url=external("digest.unsubscribe", token=token),
    )
    return digest, content


@bp.route("/digest/")
@login_required
def index():
    picked = request.args.get("month")
    if picked:
        try:
            return redirect(url_for("digest.preview", month=month_key(parse_month(picked))))
        except MonthError as exc:
            flash(str(exc), "error")
    db = get_session()
    this_month = month_start(datetime.now(UTC).date())
    months = [this_month]
    while len(months) < INDEX_MONTHS:
        months.append(previous_month(months[-1]))
    published = _published_counts(db, months)
    log = send.status_counts(db, months) if current_user.role == "admin" else {}
    return render_template(
        "digest/index.html",
        months=months,
        this_month=this_month,
        last_ended=last_ended_month(),
        published=published,
        log=log,
        month_key=month_key,
    )


def _published_counts(db, months):
    """{YYYY-MM: published postmortems the user may see}, for the index."""
    first, end = months[-1], next_month(months[0])
    rows = db.exec(
        select(Postmortem.published_at).where(
            Postmortem.status == "published",
            accounts.visibility_filter(current_user),
            Postmortem.published_at >= datetime(first.year, first.month, 1, tzinfo=UTC),
            Postmortem.published_at < datetime(end.year, end.month, 1, tzinfo=UTC),
        )
    ).all()
    counts = {}
    for published_at in rows:
        key = f"{published_at:%Y-%m}"
        counts[key] = counts.get(key, 0) + 1
    return counts


@bp.route("/digest/<month>")
@login_required
def preview(month):
    month = _month_or_404(month)
    view = "text" if request.args.get("view") == "text" else "html"
    digest, content = _rendered(month)
    this_month = month_start(datetime.now(UTC).date())
    return render_template(
        "digest/preview.html",
        digest=digest,
        content=content,
        view=view,
        in_progress=month == this_month,
        previous=month_key(previous_month(month)),
        following=month_key(next_month(month)) if month < this_month else None,
        opted_out=current_user.digest_opt_out,
    )


@bp.route("/digest/<month>/email.html")
@login_required
def email(month):
    month = _month_or_404(month)
    _digest, content = _rendered(month)
    response = current_app.response_class(content.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = EMAIL_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.route("/digest/settings", methods=["GET", "POST"])
@login_required
def settings():
    db = get_session()
    saved = False
    if request.method == "POST":
        choice = request.form.get("digest")
        if choice not in ("on", "off"):
            from kb.web import error_response

            return error_response(400, "Bad Request", "Choose to receive the digest: on or off.")
        user = accounts.get_user(db, current_user.email)
        subscriptions.set_opt_out(db, user, choice == "off", how="settings")
        db.commit()
        saved = True
        opted_out = user.digest_opt_out
    else:
        opted_out = current_user.digest_opt_out
    return render_template(
        "digest/settings.html",
        opted_out=opted_out,
        saved=saved,
        last_ended=month_key(last_ended_month()),
    )


@bp.route("/digest/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token):
    """GET asks (mail scanners follow links); POST acts: the button, or RFC 8058 one-click."""
    db = get_session()
    user = subscriptions.user_for_token(db, current_app.config["SECRET_KEY"], token)
    if user is None:
        _not_found(
            "This unsubscribe link is not valid: it may have been cut short. "
            "Copy the whole link from the e-mail, or sign in and open your digest settings."
        )
    done = None
    if request.method == "POST":
        # The one-click POST of RFC 8058 carries List-Unsubscribe=One-Click; the page's
        # buttons carry action=unsubscribe or action=subscribe.
        subscribe = request.form.get("action") == "subscribe"
        how = "one-click" if "List-Unsubscribe" in request.form else "link"
        subscriptions.set_opt_out(db, user, not subscribe, how=how)
        db.commit()
        done = "subscribed" if subscribe else "unsubscribed"
    return render_template(
        "digest/unsubscribe.html", email=user.email, opted_out=user.digest_opt_out, done=done
    )


# The signed token in the URL is the proof that the request is genuine: mail providers POST
# the one-click unsubscribe without cookies, so there can be no CSRF token (see _protect).
unsubscribe.csrf_exempt = True


@bp.route("/api/v1/digest/<month>")
@login_required
def api_month(month):
    try:
        month = parse_month(month)
    except MonthError as exc:
        return field_error("month", str(exc))
    digest, content = _rendered(month)
    return jsonify({**digest.as_dict(), "subject": content.subject, "text": content.text})


_ENTRY = {
    "type": "object",
    "properties": {
        "ref": {"type": "string"},
        "title": {"type": "string"},
        "kind": {"type": "string"},
        "severity": {"type": "string", "nullable": True},
        "restricted": {"type": "boolean"},
        "summary": {"type": "string", "description": "The summary's first sentence"},
        "lesson": {"type": "string", "description": "The first lesson"},
        "teams": {"type": "array", "items": {"type": "string"}},
        "services": {"type": "array", "items": {"type": "string"}},
        "published_at": {"type": "string", "format": "date-time"},
        "url": {"type": "string"},
    },
}

OPENAPI_SCHEMAS = {
    "DigestEntry": _ENTRY,
    "Digest": {
        "type": "object",
        "description": "The monthly digest as the caller would receive it (their visibility).",
        "properties": {
            "month": {"type": "string", "example": "2026-10"},
            "title": {"type": "string", "example": "October 2026"},
            "subject": {"type": "string"},
            "text": {"type": "string", "description": "The plain-text e-mail body"},
            "internal_only": {"type": "boolean"},
            "incidents": {"type": "array", "items": ref("DigestEntry")},
            "incidents_total": {"type": "integer"},
            "practice": {
                "type": "array",
                "description": "Near misses and game days",
                "items": ref("DigestEntry"),
            },
            "practice_total": {"type": "integer"},
            "premortems": {
                "type": "array",
                "description": "Pre-mortems published this month (the first ten)",
                "items": ref("DigestEntry"),
            },
            "premortems_total": {"type": "integer"},
            "foreseen": {
                "type": "array",
                "description": "This month's postmortems that the pre-mortem of their change "
                "(readable by you) foresaw: a risk it listed materialised",
                "items": {
                    "type": "object",
                    "properties": {
                        "entry": ref("DigestEntry"),
                        "premortem_ref": {"type": "string"},
                        "premortem_title": {"type": "string"},
                        "premortem_url": {"type": "string"},
                        "risks": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "themes": {"type": "array", "items": {"type": "object"}},
            "actions": {
                "type": "array",
                "description": "Overdue or due next month, by team",
                "items": {"type": "object"},
            },
            "actions_overdue": {"type": "integer"},
            "actions_due_next_month": {"type": "integer"},
            "figures": {"type": "object"},
            "previous_figures": {"type": "object"},
            "key_figures": {"type": "array", "items": {"type": "object"}},
            "recommended": {"type": "object", "nullable": True},
            "links": {"type": "object"},
        },
    },
}

OPENAPI_PATHS = {
    "/api/v1/digest/{month}": {
        "get": {
            "summary": "The digest of a month, as you would receive it",
            "operationId": "getDigest",
            "parameters": [
                {
                    "name": "month",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
                    "description": "YYYY-MM, up to the current month",
                }
            ],
            "responses": {
                "200": ok("Digest", "The digest"),
                **error_responses(400, 401),
            },
        }
    }
}
