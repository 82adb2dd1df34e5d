"""Review that people can find: the inbox of reviews waiting for someone, the review thread,
and the e-mail that tells reviewers and authors (an outbox, sent after the commit).

`queue_requested` and `queue_decided` only add outbox rows (ReviewMail) in the caller's
transaction, so a transition that is rolled back mails no one. `send_due` runs after the
commit: it claims each due row with a conditional UPDATE (two processes never send one row
twice), sends it through the digest's mail backend and records the outcome, committing after
each row like the digest's send log. A failed send stays in the outbox and is tried again by
the next `send_due` (after the next transition, or `kb reviews send-mail` from cron).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlmodel import select

from kb import accounts
from kb.digest.send import record_outcome
from kb.models import Postmortem, ReviewMail, ReviewRequest, Revision, User, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
STALE_SENDING = timedelta(minutes=15)  # a `sending` row this old lost its process
TEMPLATES = {
    "requested": "email/review-requested/",
    "approved": "email/review-decided/",
    "changes-requested": "email/review-decided/",
}


# --- the inbox ----------------------------------------------------------------------------


def _waiting_query(user):
    return (
        select(ReviewRequest, Postmortem)
        .join(Postmortem, Postmortem.id == ReviewRequest.postmortem_id)
        .where(
            ReviewRequest.reviewer_id == user.id,
            ReviewRequest.state == "pending",
            Postmortem.status == "in-review",
            accounts.visibility_filter(user),
        )
    )


def waiting_for(session, user):
    """The postmortems waiting for `user`'s review (a pending request), oldest request first."""
    if user is None or getattr(user, "id", None) is None:
        return []
    query = _waiting_query(user).order_by(ReviewRequest.created_at, ReviewRequest.id)
    return session.exec(query).all()


def waiting_count(session, user):
    """How many postmortems wait for `user`'s review (the number in the header)."""
    if user is None or getattr(user, "id", None) is None:
        return 0
    query = _waiting_query(user).with_only_columns(func.count(ReviewRequest.id))
    return session.execute(query).scalar_one()


# --- the thread ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One entry of a postmortem's review thread."""

    at: datetime
    kind: str  # requested | approved | changes-requested | superseded | withdrawn
    who: str  # the person who acted
    whom: str = ""  # for a request: the reviewer asked
    comment: str = ""


def thread(session, pm):
    """Requests, decisions and their comments on `pm`, oldest first; kept after publishing."""
    rows = session.exec(
        select(ReviewRequest).where(ReviewRequest.postmortem_id == pm.id).order_by(ReviewRequest.id)
    ).all()
    ids = {r.reviewer_id for r in rows} | {r.requested_by_id for r in rows if r.requested_by_id}
    names = {u.id: u.name or u.email for u in session.exec(select(User).where(User.id.in_(ids)))}
    events = []
    for r in rows:
        reviewer = names.get(r.reviewer_id, "a former user")
        if r.requested_by_id is not None:
            events.append(
                Event(r.created_at, "requested", names.get(r.requested_by_id, ""), reviewer)
            )
        if r.decided_at is not None:
            events.append(Event(r.decided_at, r.state, reviewer, comment=r.comment))
    return sorted(events, key=lambda e: e.at)


# --- the outbox ---------------------------------------------------------------------------


def _mailable(user, pm, reviewer=False):
    """Whether `user` gets review mail about `pm` now: active, opted in, allowed to read it
    (a reviewer asked to review it is involved in it)."""
    return (
        user is not None
        and user.active
        and not user.review_mail_opt_out
        and accounts.may_see(user, pm, asked_to_review=reviewer)
    )


def queue_requested(session, pm, reviewers, actor):
    """Queue the mail to each reviewer just asked (those who did not opt out)."""
    for user in reviewers:
        if _mailable(user, pm, reviewer=True):
            session.add(
                ReviewMail(
                    postmortem_id=pm.id, user_id=user.id, actor_id=actor.id, kind="requested"
                )
            )
    session.flush()


def queue_decided(session, pm, decision, actor, comment=""):
    """Queue the mail of a decision to the authors, and to whoever asked for the review."""
    emails = {e.lower() for e in pm.label_values("authors")}
    people = list(session.exec(select(User).where(func.lower(User.email).in_(emails))).all())
    asked = select(ReviewRequest.requested_by_id).where(
        ReviewRequest.postmortem_id == pm.id, ReviewRequest.requested_by_id.is_not(None)
    )
    first = select(Revision.author_id).where(Revision.postmortem_id == pm.id, Revision.number == 1)
    people += session.exec(select(User).where(or_(User.id.in_(asked), User.id.in_(first)))).all()
    seen = set()
    for user in people:
        if user.id in seen or user.id == actor.id or not _mailable(user, pm):
            continue
        seen.add(user.id)
        session.add(
            ReviewMail(
                postmortem_id=pm.id,
                user_id=user.id,
                actor_id=actor.id,
                kind=decision,
                comment=comment,
            )
        )
    session.flush()


def due(session, now=None):
    """The outbox rows to send now: new, failed (under the limit) or stuck at sending."""
    now = now or utcnow()
    query = (
        select(ReviewMail)
        .where(
            or_(
                ReviewMail.status == "pending",
                (ReviewMail.status == "failed") & (ReviewMail.attempts < MAX_ATTEMPTS),
                (ReviewMail.status == "sending") & (ReviewMail.updated_at < now - STALE_SENDING),
            )
        )
        .order_by(ReviewMail.id)
    )
    return session.exec(query).all()


@dataclass
class SendResult:
    """What one `send_due` did."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0


def send_due(session, *, backend, commit, mail_from):
    """Send every due outbox row; see the module docstring. Never raises for a mail problem."""
    from kb.digest import mail  # the digest's backends: smtp, console, memory

    result = SendResult()
    rows = due(session)
    if not rows:
        return result
    try:
        with backend.connect() as connection:
            for row in rows:
                outcome = _send_one(session, commit, connection, row, mail_from)
                if outcome == "sent":
                    result.sent += 1
                elif outcome == "skipped":
                    result.skipped += 1
                elif outcome == "failed":
                    result.failed += 1
    except mail.Unavailable as exc:
        log.warning("review mail: the mail server is unavailable: %s", exc)
        result.failed += 1
    return result


def _send_one(session, commit, connection, row, mail_from):
    from kb.digest import mail

    if not _claim(session, commit, row, mail.message_id(mail_from)):
        return None
    user = session.get(User, row.user_id)
    pm = session.get(Postmortem, row.postmortem_id)
    if pm is None or not _mailable(user, pm):
        # Opted out, disabled or no longer allowed to read it since the row was written.
        record_outcome(session, commit, row, "skipped", "")
        return "skipped"
    actor = session.get(User, row.actor_id) if row.actor_id else None
    subject, text, html = render(row.kind, pm, user, actor, row.comment)
    message = mail.build_message(
        sender=mail_from,
        to=mail.display_address(user.name, user.email),
        subject=subject,
        text=text,
        html=html,
        msg_id=row.message_id,
    )
    try:
        connection.send(message)
    except mail.Unavailable as exc:
        record_outcome(session, commit, row, "failed", f"server unavailable: {exc}")
        raise
    except mail.MailError as exc:
        # Refused or uncertain: kept as failed, so the next run tries again (a review
        # notice twice is better than none).
        record_outcome(session, commit, row, "failed", str(exc))
        log.warning("review mail %s to %s failed: %s", row.id, user.email, exc)
        return "failed"
    record_outcome(session, commit, row, "sent", "")
    return "sent"


def _claim(session, commit, row, msg_id):
    """Move the row to `sending` unless another process moved it first."""
    claimed = session.execute(
        update(ReviewMail)
        .where(
            ReviewMail.id == row.id,
            ReviewMail.status == row.status,
            ReviewMail.attempts == row.attempts,
        )
        .values(status="sending", attempts=row.attempts + 1, updated_at=utcnow(), message_id=msg_id)
        .execution_options(synchronize_session=False)
    )
    commit()
    if claimed.rowcount != 1:
        return False
    session.refresh(row)
    return True


# --- rendering ----------------------------------------------------------------------------


def render(kind, pm, user, actor, comment=""):
    """(subject, text, html) of one review e-mail, from templates/email/<name>/."""
    from flask import current_app

    from kb.digest.links import external
    from kb.digest.render import _environment, _inliner, _tidy_text

    env = _environment()
    context = {
        "kind": kind,
        "pm": pm,
        "user": user,
        "actor_name": (actor.name or actor.email) if actor else "Someone",
        "comment": comment,
        "url": external("postmortems.show", ref=pm.ref),
        "inbox_url": external("postmortems.index"),
        "settings_url": external("reviews.settings"),
        "base_url": current_app.config["BASE_URL"],
    }
    folder = TEMPLATES[kind]
    subject = env.get_template(folder + "subject.txt").render(context)
    text = env.get_template(folder + "body.txt").render(context)
    html = env.get_template(folder + "body.html").render(context)
    return " ".join(subject.split()), _tidy_text(text), _inliner().inline(html)


def set_opt_out(session, user, opted_out):
    """Turn review e-mail off (True) or on (False) for `user`."""
    user.review_mail_opt_out = bool(opted_out)
    session.add(user)
    session.flush()
    return user
