"""Sending a month's digest to everyone, once: recipients, the send log, resuming.

The send log (DigestSend, one row per month and address) is what makes a run idempotent:
before a message goes to the mail server its row is written as `sending` and committed,
after the server accepted it the row becomes `sent` and is committed again. A rerun skips
`sent`, retries `failed` and addresses without a row, and leaves `sending` alone: such a row
means a process died, or the connection broke, between handing the message over and hearing
the answer, so the message may have arrived. Those are reported as uncertain, with their
Message-ID to look up in the mail server's log, and resent only with resend_uncertain.

This module commits (through the `commit` the caller passes) after every log write: that is
the point of the log, and the one exception to "domain functions only flush".
"""

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from kb import accounts
from kb.digest import mail
from kb.digest.compose import INTERNAL_ONLY, compose, visibility_groups
from kb.digest.links import external
from kb.digest.render import render
from kb.digest.subscriptions import make_token
from kb.hooks import events as hook_events
from kb.models import DigestSend, User, utcnow
from kb.months import month_key


@dataclass(frozen=True)
class Recipient:
    """One address the digest goes to: a user (personal) or a distribution list."""

    address: str
    name: str = ""
    user: User | None = None

    @property
    def variant(self):
        """personal (the user's own visibility) or list (internal-only)."""
        return "personal" if self.user is not None else "list"

    @property
    def scope(self):
        """What this recipient may see."""
        return accounts.scope_of(self.user) if self.user is not None else INTERNAL_ONLY


@dataclass
class SendReport:
    """What one run did, address by address."""

    month: str
    backend: str
    dry_run: bool = False
    recipients: int = 0
    sent: list[str] = field(default_factory=list)
    would_send: list[str] = field(default_factory=list)  # a dry run's plan
    already: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    uncertain: list[tuple[str, str]] = field(default_factory=list)
    not_attempted: list[tuple[str, str]] = field(default_factory=list)
    versions: int = 0  # distinct digests composed (one per visibility group)

    @property
    def ok(self):
        """True when everyone who should have the digest has it (or would, in a dry run)."""
        return not (self.failed or self.uncertain or self.not_attempted)

    @property
    def missing(self):
        """Every address that does not have the digest for sure, with the reason."""
        return self.failed + self.uncertain + self.not_attempted


class RecipientError(ValueError):
    """A configured address that is not an e-mail address."""


_SPLIT = re.compile(r"[,;\s]+")


def parse_addresses(text):
    """Comma- (or space-) separated addresses, lower-cased, without repeats."""
    addresses = []
    for part in _SPLIT.split(text or ""):
        address = mail.envelope_address(part) if part else ""
        if not part:
            continue
        if "@" not in address or address.startswith("@") or address.endswith("@"):
            raise RecipientError(f"{part!r} in DIGEST_EXTRA_RECIPIENTS is not an e-mail address")
        address = address.lower()
        if address not in addresses:
            addresses.append(address)
    return addresses


def recipients(session, extra=""):
    """Active users who did not opt out, then the distribution lists of `extra`."""
    users = session.exec(
        select(User)
        .where(User.active.is_(True), User.digest_opt_out.is_(False))
        .order_by(User.email)
    ).all()
    result = [Recipient(address=u.email, name=u.name, user=u) for u in users]
    known = {u.email for u in session.exec(select(User)).all()}
    # A list address that is also a user's own address is that user's: their settings rule.
    result += [Recipient(address=a) for a in parse_addresses(extra) if a not in known]
    return result


def send_log(session, month):
    """The send log of one month, by address."""
    rows = session.exec(select(DigestSend).where(DigestSend.month == month_key(month))).all()
    return {row.address: row for row in rows}


def status_counts(session, months):
    """{YYYY-MM: {status: count}} for the given months (for the digest index page)."""
    keys = [month_key(m) for m in months]
    counts = {k: {} for k in keys}
    for key, status in session.exec(
        select(DigestSend.month, DigestSend.status).where(DigestSend.month.in_(keys))
    ).all():
        counts[key][status] = counts[key].get(status, 0) + 1
    return counts


class Composer:
    """Composes each visibility group's digest once and renders it per recipient."""

    def __init__(self, session, month, everyone, secret_key):
        self.session, self.month, self.secret_key = session, month, secret_key
        self.group_of = {}
        for key, indexes in visibility_groups(session, [r.scope for r in everyone]).items():
            for index in indexes:
                self.group_of[everyone[index].address] = key
        self.digests = {}

    def rendered(self, recipient):
        """(subject/text/html, unsubscribe URL) of the digest for one recipient."""
        key = self.group_of[recipient.address]
        if key not in self.digests:
            self.digests[key] = compose(self.session, recipient.scope, self.month)
        return self._render(self.digests[key], recipient)

    def _render(self, digest, recipient):
        unsubscribe = None
        if recipient.user is not None:
            token = make_token(self.secret_key, recipient.user)
            unsubscribe = external("digest.unsubscribe", token=token)
        content = render(
            digest,
            to=recipient.address,
            name=recipient.name,
            unsubscribe_url=unsubscribe,
            is_list=recipient.user is None,
        )
        return content, unsubscribe


def list_id(base_url):
    """The List-Id header: one list per Hindsight installation."""
    host = urlsplit(base_url).hostname or "hindsight.invalid"
    return f"Hindsight digest <digest.{host}>"


def send_month(
    session,
    month,
    *,
    backend,
    commit,
    mail_from,
    secret_key,
    base_url,
    extra="",
    dry_run=False,
    resend_uncertain=False,
    progress=None,
):
    """Send the digest of `month` to everyone who does not have it yet; see the module doc.

    `commit` is called after every write to the send log. `progress(recipient)` is called
    once per recipient handled. Returns a SendReport; nothing raises for a mail problem.
    """
    everyone = recipients(session, extra)
    report = SendReport(month=month_key(month), backend=backend.describe(), dry_run=dry_run)
    report.recipients = len(everyone)
    log = send_log(session, month)
    pending = []
    for recipient in everyone:
        row = log.get(recipient.address)
        if row is not None and row.status == "sent":
            report.already.append(recipient.address)
        elif row is not None and row.status == "sending" and not resend_uncertain:
            report.uncertain.append((recipient.address, _uncertain_reason(row)))
        else:
            pending.append(recipient)
    composer = Composer(session, month, everyone, secret_key)
    if dry_run:
        for recipient in pending:
            composer.rendered(recipient)  # proves every version composes and renders
            report.would_send.append(recipient.address)
            if progress:
                progress(recipient)
        report.versions = len(composer.digests)
        return report

    try:
        with backend.connect() as connection:
            for index, recipient in enumerate(pending):
                outcome = _send_one(
                    session, commit, connection, composer, month, recipient, mail_from, base_url
                )
                if progress:
                    progress(recipient)
                if outcome is None:
                    report.already.append(recipient.address)
                    continue
                status, detail = outcome
                if status == "sent":
                    report.sent.append(recipient.address)
                elif status == "uncertain":
                    report.uncertain.append((recipient.address, detail))
                elif status == "failed":
                    report.failed.append((recipient.address, detail))
                else:  # the server is gone: stop here, the rest were not tried
                    report.failed.append((recipient.address, detail))
                    for rest in pending[index + 1 :]:
                        report.not_attempted.append((rest.address, f"not tried: {detail}"))
                    break
    except mail.Unavailable as exc:
        tried = set(report.sent) | {a for a, _ in report.missing} | set(report.already)
        for recipient in pending:
            if recipient.address not in tried:
                report.not_attempted.append((recipient.address, f"not tried: {exc}"))
    report.versions = len(composer.digests)
    hook_events.digest_sent(session, report, commit)
    return report


def _uncertain_reason(row):
    detail = f": {row.error}" if row.error else ""
    return (
        f"may have been delivered (Message-ID {row.message_id}, since "
        f"{row.updated_at:%Y-%m-%d %H:%M} UTC){detail}"
    )


def _send_one(session, commit, connection, composer, month, recipient, mail_from, base_url):
    """Render, claim the log row, send, record. None when someone else has it already."""
    content, unsubscribe = composer.rendered(recipient)
    msg_id = mail.message_id(mail_from)
    row = _claim(session, commit, month, recipient, msg_id)
    if row is None:
        return None
    message = mail.build_message(
        sender=mail_from,
        to=mail.display_address(recipient.name, recipient.address),
        subject=content.subject,
        text=content.text,
        html=content.html,
        msg_id=msg_id,
        unsubscribe_url=unsubscribe,
        list_id=list_id(base_url),
    )
    try:
        connection.send(message)
    except mail.Uncertain as exc:
        record_outcome(session, commit, row, "sending", str(exc))
        return "uncertain", _uncertain_reason(row)
    except mail.Refused as exc:
        record_outcome(session, commit, row, "failed", f"refused: {exc}")
        return "failed", f"refused by the server: {exc}"
    except mail.Unavailable as exc:
        record_outcome(session, commit, row, "failed", f"server unavailable: {exc}")
        return "unavailable", f"server unavailable: {exc}"
    record_outcome(session, commit, row, "sent", "")
    return "sent", ""


def _claim(session, commit, month, recipient, msg_id):
    """Write the row as `sending` and commit, unless another run has or is sending it."""
    key = month_key(month)
    now = utcnow()
    row = session.exec(
        select(DigestSend).where(DigestSend.month == key, DigestSend.address == recipient.address)
    ).first()
    if row is None:
        row = DigestSend(
            month=key,
            address=recipient.address,
            variant=recipient.variant,
            user_id=recipient.user.id if recipient.user is not None else None,
            status="sending",
            message_id=msg_id,
            attempts=1,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        try:
            session.flush()
            commit()
        except IntegrityError:
            session.rollback()  # another run inserted it first: theirs to send
            return None
        return row
    if row.status == "sent":
        return None
    # Only the run that moves the row from the status it read may send: a conditional
    # UPDATE, so two runs at once cannot both claim the same address.
    claimed = session.execute(
        update(DigestSend)
        .where(DigestSend.id == row.id, DigestSend.status == row.status)
        .where(DigestSend.attempts == row.attempts)
        .values(
            status="sending",
            message_id=msg_id,
            attempts=row.attempts + 1,
            updated_at=now,
            error="",
            variant=recipient.variant,
        )
    )
    commit()
    if claimed.rowcount != 1:
        return None
    session.refresh(row)
    return row


def record_outcome(session, commit, row, status, error):
    row.status = status
    row.error = error[:1000]
    row.updated_at = utcnow()
    if status == "sent":
        row.sent_at = row.updated_at
    session.add(row)
    commit()


def send_test(session, month, address, *, backend, mail_from, secret_key, base_url):
    """Send one copy to `address` (a user's version if it is a user's), without the log.

    Raises mail.MailError when it could not be sent. Returns the Message-ID.
    """
    address = address.strip().lower()
    user = accounts.get_user(session, address)
    user = user if user is not None and user.active else None
    recipient = Recipient(address=address, name=user.name if user else "", user=user)
    composer = Composer(session, month, [recipient], secret_key)
    content, unsubscribe = composer.rendered(recipient)
    msg_id = mail.message_id(mail_from)
    message = mail.build_message(
        sender=mail_from,
        to=mail.display_address(recipient.name, address),
        subject=content.subject,
        text=content.text,
        html=content.html,
        msg_id=msg_id,
        unsubscribe_url=unsubscribe,
        list_id=list_id(base_url),
    )
    with backend.connect() as connection:
        connection.send(message)
    return msg_id
