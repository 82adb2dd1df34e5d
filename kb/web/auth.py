"""Signing in and out, and the admin's audit log page."""

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from kb import accounts, audit
from kb.db import get_session
from kb.models import utcnow
from kb.ops.proxies import rate_limit_key

bp = Blueprint("auth", __name__)


def unauthorized():
    """Anonymous visitors see only the sign-in page; API clients get a JSON 401."""
    from kb.web import error_response, wants_json

    if wants_json():
        return error_response(401, "Unauthorized", "Sign in, or send a valid API token.")
    flash("Please sign in to see this page.", "info")
    return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))


def safe_next(target):
    """Only a path on this site: no scheme, no host, no protocol-relative URL."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


def _client():
    """Who failed sign-ins are counted against: the client's address (behind
    KB_TRUSTED_PROXIES, the one they name; kb/ops/proxies.py), an IPv6 client by its /64."""
    return rate_limit_key(request.remote_addr)


def _locked_out(db, email, address):
    """Whether this address, or this account, is past its limit of failed sign-ins."""
    config = current_app.config
    return accounts.too_many_attempts(
        db,
        email,
        address,
        address_limit=config["LOGIN_RATE_LIMIT"],
        account_limit=config["LOGIN_ACCOUNT_LIMIT"],
        window_seconds=config["LOGIN_RATE_WINDOW"],
    )


def _wait_minutes():
    return max(1, current_app.config["LOGIN_RATE_WINDOW"] // 60)


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("postmortems.index"))
    email = ""
    status = 200
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        password = request.form.get("password", "")
        db = get_session()
        address = _client()
        if _locked_out(db, email, address):
            flash(
                f"Too many failed sign-ins. Please wait {_wait_minutes()} minutes and try again.",
                "error",
            )
            status = 429
        else:
            user = accounts.authenticate(db, email, password)
            if user is None:
                accounts.record_failed_login(db, email, address)
                db.commit()
                flash("That e-mail address and password do not match an active account.", "error")
                status = 401
            else:
                user.last_login_at = utcnow()
                db.commit()
                session.clear()
                session.permanent = True
                login_user(user)
                return redirect(next_url or url_for("postmortems.index"))
    return render_template("auth/sign_in.html", email=email, next_url=next_url), status


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's own password: every other session ends, this one goes on."""
    status = 200
    if request.method == "POST":
        db = get_session()
        user = current_user._get_current_object()
        address = _client()
        # The current password is a guess like a sign-in's, whoever holds the session.
        if _locked_out(db, user.email, address):
            flash(f"Too many wrong passwords. Please wait {_wait_minutes()} minutes.", "error")
            return render_template("auth/password.html"), 429
        new = request.form.get("new_password", "")
        try:
            if new != request.form.get("confirm_password", ""):
                raise accounts.AccountError("the two new passwords differ")
            accounts.change_password(db, user, request.form.get("current_password", ""), new)
        except accounts.AccountError as exc:
            db.rollback()
            if isinstance(exc, accounts.WrongPassword):
                accounts.record_failed_login(db, user.email, address)
                db.commit()
            flash(f"Not changed: {exc}.", "error")
            status = 400
        else:
            db.commit()
            login_user(user)  # this session takes the new generation; the others end
            flash("Your password is changed. You are signed out everywhere else.", "info")
            return redirect(url_for("postmortems.index"))
    return render_template("auth/password.html"), status


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    if current_user.is_authenticated:
        # The cookie is signed, not stored: ending the generation is what makes a copy of it
        # useless (it also signs the user out in their other browsers).
        accounts.end_sessions(current_user._get_current_object())
        get_session().commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.sign_in"))


@bp.route("/admin/audit")
@login_required
def audit_log():
    if current_user.role != "admin":
        abort(403)
    ref = request.args.get("ref", "").strip() or None
    action = request.args.get("action", "").strip() or None
    events = audit.recent(get_session(), limit=300, ref=ref, action=action)
    return render_template("auth/audit.html", events=events, ref=ref or "", action=action or "")
