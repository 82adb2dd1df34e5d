"""The web layer: sign-in, security headers, error pages and the blueprints."""

from flask import Flask, render_template, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from kb import accounts
from kb.db import get_session
from kb.digest.render import duration
from kb.markdown import render as render_markdown
from kb.models import utcnow
from kb.web import params
from kb.web.errors import ApiError, error_json, field_error

__all__ = ["error_response", "field_error", "init_app", "wants_json"]

csrf = CSRFProtect()
login_manager = LoginManager()

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask):
    """Register extensions, hooks, filters and blueprints."""
    from datetime import timedelta

    from kb.ops import observability, proxies
    from kb.web import (
        actions,
        api,
        attachments,
        auth,
        blameless_api,
        digest,
        editor,
        figures,
        history,
        hooks,
        imports,
        openapi,
        postmortems,
        radar,
        themes,
        timeline_import,
        timeline_import_api,
    )
    from kb.web import health as health_pages
    from kb.web import reviews as review_pages
    from kb.web import search as search_pages

    # Before any blueprint adds a rule: every <int:...> in a URL is bounded (kb/web/params.py).
    app.url_map.converters["int"] = params.WholeNumberConverter
    proxies.init_app(app)  # request.remote_addr is the client's, behind KB_TRUSTED_PROXIES
    secure = app.config["BASE_URL"].startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=app.config["SESSION_HOURS"]),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in _protect, which lets API tokens through
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Please sign in to see this page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_user)
    login_manager.request_loader(_load_user_from_request)
    login_manager.unauthorized_handler(auth.unauthorized)

    app.before_request(_body_limit)
    app.before_request(_refuse_deep_json)
    app.before_request(_refuse_nul)
    app.before_request(_protect)
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(params.BadParameter, _bad_parameter)
    app.register_error_handler(ApiError, ApiError.response)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.context_processor(_navigation)
    app.add_template_filter(render_markdown, "markdown")
    app.add_template_filter(_when, "when")
    app.add_template_filter(_ago, "ago")
    app.add_template_filter(duration, "duration")

    app.register_blueprint(auth.bp)
    app.register_blueprint(postmortems.bp)
    app.register_blueprint(editor.bp)
    app.register_blueprint(history.bp)
    app.register_blueprint(imports.bp)
    app.register_blueprint(attachments.bp)
    app.register_blueprint(timeline_import.bp)
    app.register_blueprint(actions.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(timeline_import_api.bp)
    app.register_blueprint(blameless_api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(digest.bp)
    app.register_blueprint(themes.bp)
    app.register_blueprint(radar.bp)
    app.register_blueprint(figures.bp)
    app.register_blueprint(search_pages.bp)
    app.register_blueprint(health_pages.bp)
    app.register_blueprint(review_pages.bp)
    app.register_blueprint(hooks.bp)
    observability.init_app(app)  # request ids, JSON logs, request metrics


# The main navigation: (endpoint, label, admins only). An entry shows once its page exists.
MAIN_NAV = (
    ("postmortems.index", "Postmortems", False),
    ("actions.index", "Action items", False),
    ("themes.index", "Themes", False),
    ("figures.index", "Figures", False),
    ("digest.index", "Digest", False),
)


def _navigation():
    from flask import current_app

    def has_page(endpoint):
        return endpoint in current_app.view_functions

    return {"main_nav": MAIN_NAV, "has_page": has_page}


def _load_user(user_id):
    """The user a session cookie names ("<id>:<generation>"), while that generation lasts."""
    from kb.models import User

    if _bearer_token() is not None:
        return None  # a request that brings a token is the token's alone, never the cookie's
    number, _, generation = str(user_id).partition(":")
    number, generation = params.whole_or_none(number), params.whole_or_none(generation)
    if number is None or generation is None:
        return None  # a cookie from before generations, or not ours
    user = get_session().get(User, number)
    if user is None or not user.active or user.session_generation != generation:
        return None  # signed out, disabled or given a new password since
    return user


def _bearer_token():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _load_user_from_request(req):
    """API tokens on /api/, and the optional trusted single-sign-on header."""
    from flask import current_app

    session = get_session()
    token = _bearer_token()
    if token is not None:
        if not req.path.startswith("/api/"):
            return None  # tokens are for the API; the pages' cookie is not used either
        user = accounts.user_for_token(session, token)
        if user is not None and session.dirty:
            session.commit()  # last_used_at moved on
        return user
    header = current_app.config.get("AUTH_TRUSTED_HEADER")
    if header and req.headers.get(header):
        user = accounts.get_user(session, req.headers[header])
        return user if user is not None and user.active else None
    return None


def _refuse_deep_json():
    """A JSON body nested deeper than any document is refused before anything parses it."""
    if request.method in ("GET", "HEAD", "OPTIONS") or not request.is_json:
        return None
    problem = params.json_body_problem()
    if problem is not None:
        if wants_json():
            return field_error("body", problem)
        return error_response(400, "Bad Request", f"body: {problem}.")
    return None


def _refuse_nul():
    """No database stores a NUL character: refuse it in any parameter, form field or JSON body."""
    values = [request.path, *(k + v for k, v in request.args.items(multi=True))]
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        # A multipart part may come without a usable name (the key is then None).
        values += [(k or "") + (v or "") for k, v in request.form.items(multi=True)]
        if request.is_json:
            values.extend(_strings(request.get_json(silent=True)))
    if any("\x00" in value for value in values):
        return error_response(400, "Bad Request", "The request contains a NUL character.")
    return None


def _strings(value):
    """Every key and string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _body_limit():
    """A view that takes larger bodies than MAX_CONTENT_LENGTH (uploads) says how large,
    before anything reads the body."""
    from flask import current_app

    view = current_app.view_functions.get(request.endpoint)
    limit = getattr(view, "max_content_length", None)
    if limit is not None:
        request.max_content_length = limit(current_app)


def _protect():
    """CSRF on every unsafe request, except API calls authenticated by a bearer token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.path.startswith("/api/") and _bearer_token() is not None:
        return
    # A view may carry its own proof instead (a signed token in the URL, as the digest's
    # one-click unsubscribe must: mail providers POST it without cookies).
    from flask import current_app

    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "csrf_exempt", False):
        return
    csrf.protect()


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.path.startswith("/api/") or response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def wants_json():
    """API calls, the editor's autosave and clients that ask for JSON get JSON errors."""
    if request.endpoint == "editor.autosave":
        return True  # also posted by sendBeacon, which cannot ask for JSON (and never reads)
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return request.path.startswith("/api/") or best == "application/json"


def error_response(status, title, message):
    """An error as a JSON body or a page, whichever the client wants."""
    if wants_json():
        return error_json(status, title, message=message)
    return render_template("error.html", status=status, title=title, message=message), status


_MESSAGES = {
    400: "The request could not be understood.",
    403: "You do not have permission to do that.",
    404: "There is nothing here. The address may be mistyped, or the page may have moved.",
    405: "That method is not allowed here.",
    413: "What you sent is too large.",
    429: "Too many requests. Please wait a moment and try again.",
}


def _http_error(exc):
    message = _MESSAGES.get(exc.code, exc.description)
    if exc.code == 413:
        limit = request.max_content_length or 0
        message = f"What you sent is too large: the limit is {limit // 1024:,} KiB."
    return error_response(exc.code or 500, exc.name, message)


def _bad_parameter(exc):
    if wants_json():
        return field_error(exc.field, exc.message)
    return error_response(400, "Bad Request", f"{exc.field}: {exc.message}.")


def _csrf_error(exc):
    return error_response(
        400,
        "Form expired",
        "This form has expired or was sent from another site. "
        "Go back, reload the page and try again: what you typed is still in the form.",
    )


def _database_unavailable(exc):
    get_session().rollback()
    # The page is shown signed out: loading the user (or reading a loaded one, expired by the
    # rollback) needs the database, and a failure here would turn the 503 into a 500.
    from flask import g

    g._login_user = login_manager.anonymous_user()
    return error_response(
        503, "Service unavailable", "The database is not reachable right now. Try again shortly."
    )


def _when(value, fmt="%Y-%m-%d %H:%M UTC"):
    return value.strftime(fmt) if value else ""


def _ago(value, now=None):
    """How long ago `value` was, in words ("just now", "5 min ago", "3 days ago")."""
    if not value:
        return ""
    seconds = max(0, int(((now or utcnow()) - value).total_seconds()))
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if unit == 'day' and n != 1 else ''} ago"
    return "just now"
