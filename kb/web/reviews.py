"""Review that people can find: the count in the header, the settings page, and sending the
review e-mail after a transition's commit."""

import logging

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required

from kb import reviews
from kb.db import get_session
from kb.digest import mail

bp = Blueprint("reviews", __name__)
log = logging.getLogger(__name__)


@bp.app_context_processor
def _waiting():
    """`review_waiting()` for the header: computed only by the pages that show it."""

    def review_waiting():
        if not current_user.is_authenticated:
            return 0
        return reviews.waiting_count(get_session(), current_user)

    return {"review_waiting": review_waiting}


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    db = get_session()
    saved = False
    if request.method == "POST":
        choice = request.form.get("review_mail")
        if choice not in ("on", "off"):
            from kb.web import error_response

            return error_response(400, "Bad Request", "Choose review e-mail: on or off.")
        reviews.set_opt_out(db, current_user, choice == "off")
        db.commit()
        saved = True
    return render_template(
        "reviews/settings.html", opted_out=current_user.review_mail_opt_out, saved=saved
    )


def backend():
    """The configured mail backend; the memory backend is kept for the app's life (tests)."""
    if (current_app.config.get("MAIL_BACKEND") or "").strip().lower() == "memory":
        return current_app.extensions.setdefault("kb_review_mailbox", mail.MemoryBackend())
    return mail.backend_from_config(current_app.config)


def send_after_commit(db):
    """Send the review e-mail the committed transition queued; a failure never fails the page."""
    try:
        reviews.send_due(
            db, backend=backend(), commit=db.commit, mail_from=current_app.config["MAIL_FROM"]
        )
    except Exception:  # the transition is committed; the outbox keeps the mail for a retry
        db.rollback()
        log.exception("review mail: sending after the transition failed")
