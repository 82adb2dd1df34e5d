"""Sending what is due: claim, POST, record; retried with backoff for a day.

A process takes a delivery with a conditional UPDATE that sets a lease (`claimed_until`) only
while the row is pending, due and not leased: of two servers asking at once, one gets it.
The claim is committed before the request goes out, the outcome after it comes back. A 2xx
answer makes the delivery `delivered`, and a delivered row is never claimed again; anything
else is a failure, tried again after BACKOFF (5 s, then longer, then hourly) until
GIVE_UP_AFTER has passed since the event, when it becomes `given-up`.

A process that dies between sending and recording leaves the row leased; when the lease
ends it is sent again (receivers that must not act twice key on the delivery id).

This module commits (through the session it is given) around each request: that is what the
queue is for, and the one exception to "domain functions only flush" (as the digest's send
log and the review outbox do).
"""

import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from kb.hooks import payloads
from kb.models import Hook, HookAttempt, HookDelivery, Postmortem, utcnow

log = logging.getLogger(__name__)

BACKOFF = (5, 30, 120, 600, 1800, 3600)  # seconds before retry n; hourly after the last
GIVE_UP_AFTER = timedelta(hours=24)
ERROR_BODY_MAX = 1024  # bytes read of a failing answer's body (for its message); a
# successful one is not read at all: only its status counts, and a slow body cannot hold us
ERROR_MAX = 1000
DUE_BATCH = 50  # deliveries claimed by one round
KEEP_FINISHED = timedelta(days=30)  # delivered, given-up and skipped ones are kept this long


def retry_delay(failures):
    """Seconds to wait after the `failures`-th failed attempt."""
    return BACKOFF[min(max(failures, 1), len(BACKOFF)) - 1]


def lease_for(timeout):
    """How long a claim lasts: longer than any request can take."""
    return timedelta(seconds=max(1.0, float(timeout)) * 2 + 30)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A hook's URL is used as registered: a redirect is an error, never followed (it could
    lead anywhere, and a POST would arrive as a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(url, data, headers, timeout):
    """POST `data`; (HTTP status or None, error text). Never raises for a network problem."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return None, "not an http(s) URL"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310 (http(s) only, checked above)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        status = exc.code
        if 300 <= status < 400:
            where = exc.headers.get("Location", "")
            return status, f"redirected to {where[:300]}: hooks do not follow redirects"
        try:
            text = exc.read(ERROR_BODY_MAX).decode("utf-8", "replace")
        except OSError:  # the answer was cut short: its status is what matters
            text = ""
        text = " ".join(text.split())[:300]
        return status, f"HTTP {status}" + (f": {text}" if text else "")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(reason).__name__}: {reason}"[:ERROR_MAX]


@dataclass
class DeliverReport:
    """What one round of `deliver_due` did."""

    delivered: int = 0
    failed: int = 0
    given_up: int = 0
    skipped: int = 0

    @property
    def tried(self):
        return self.delivered + self.failed + self.given_up

    def add(self, other):
        """Count another round's outcomes in this one."""
        self.delivered += other.delivered
        self.failed += other.failed
        self.given_up += other.given_up
        self.skipped += other.skipped


def _due_query(now):
    return (
        select(HookDelivery.id)
        .join(Hook, Hook.id == HookDelivery.hook_id)
        .where(
            Hook.active.is_(True),
            HookDelivery.state == "pending",
            HookDelivery.next_attempt_at <= now,
            or_(HookDelivery.claimed_until.is_(None), HookDelivery.claimed_until <= now),
        )
        .order_by(HookDelivery.next_attempt_at, HookDelivery.id)
    )


def claim(session, delivery_id, now, lease):
    """Take a due delivery for this process (committed); False when another has it."""
    result = session.execute(
        update(HookDelivery)
        .where(
            HookDelivery.id == delivery_id,
            HookDelivery.state == "pending",
            HookDelivery.next_attempt_at <= now,
            or_(HookDelivery.claimed_until.is_(None), HookDelivery.claimed_until <= now),
        )
        .values(claimed_until=now + lease, attempts=HookDelivery.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def deliver_due(session, *, timeout=10.0, now=None, limit=DUE_BATCH, sender=post):
    """Send the deliveries due at `now` (default: the present), at most `limit` of them."""
    now = now or utcnow()
    report = DeliverReport()
    lease = lease_for(timeout)
    ids = session.exec(_due_query(now).limit(limit)).all()
    session.commit()  # end the read: each claim is its own short transaction
    for delivery_id in ids:
        if not claim(session, delivery_id, now, lease):
            continue  # another server took it
        delivery = session.get(HookDelivery, delivery_id, populate_existing=True)
        hook = delivery and session.get(Hook, delivery.hook_id, populate_existing=True)
        if hook is None:  # removed meanwhile
            session.commit()
            continue
        outcome = _deliver_one(session, hook, delivery, now, timeout, sender)
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def _withheld(session, hook, delivery):
    """Whether the postmortem became restricted after the event was written."""
    if delivery.postmortem_id is None or hook.receives_restricted:
        return False
    pm = session.get(Postmortem, delivery.postmortem_id)
    return pm is not None and pm.visibility == "restricted"


def _deliver_one(session, hook, delivery, now, timeout, sender):
    if _withheld(session, hook, delivery):
        _finish(session, delivery, state="skipped", error="withheld: now restricted")
        return "skipped"
    sent_at = utcnow()
    data = payloads.body(hook, delivery, sent_at)
    started = time.monotonic()
    try:
        status, error = sender(hook.url, data, payloads.headers(hook, delivery, data), timeout)
    except Exception as exc:  # noqa: BLE001 (any failure of one request is that delivery's)
        status, error = None, f"{type(exc).__name__}: {exc}"
    elapsed = int((time.monotonic() - started) * 1000)
    session.add(
        HookAttempt(
            delivery_id=delivery.id,
            number=delivery.attempts,
            at=sent_at,
            status=status,
            error=error[:ERROR_MAX],
            duration_ms=elapsed,
        )
    )
    if status is not None and 200 <= status < 300:
        _finish(session, delivery, state="delivered", status=status)
        return "delivered"
    retry_at = now + timedelta(seconds=retry_delay(delivery.attempts))
    if retry_at > delivery.created_at + GIVE_UP_AFTER:
        _finish(session, delivery, state="given-up", status=status, error=error)
        log.warning("webhook delivery %s to hook %s given up: %s", delivery.uuid, hook.id, error)
        return "given_up"
    _finish(session, delivery, status=status, error=error, retry_at=retry_at)
    return "failed"


def _finish(session, delivery, *, state="pending", status=None, error="", retry_at=None):
    """Record the outcome of this process's claim (only while the claim is still its own:
    a process whose lease ran out records nothing over the one that took the row next)."""
    values = {
        "state": state,
        "claimed_until": None,
        "last_status": status,
        "last_error": (error or "")[:ERROR_MAX],
    }
    if state == "delivered":
        values["delivered_at"] = utcnow()
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    session.execute(
        update(HookDelivery)
        .where(
            HookDelivery.id == delivery.id,
            HookDelivery.state == "pending",
            HookDelivery.claimed_until == delivery.claimed_until,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    try:
        session.commit()
    except IntegrityError:  # the hook was removed while its request was out: nothing to keep
        session.rollback()


def prune(session, now=None):
    """Forget finished deliveries (and their attempts) older than KEEP_FINISHED; flushes."""
    before = (now or utcnow()) - KEEP_FINISHED
    old = select(HookDelivery.id).where(
        HookDelivery.state != "pending", HookDelivery.created_at < before
    )
    ids = session.exec(old.limit(10_000)).all()
    if not ids:
        return 0
    session.execute(delete(HookAttempt).where(HookAttempt.delivery_id.in_(ids)))
    session.execute(delete(HookDelivery).where(HookDelivery.id.in_(ids)))
    session.flush()
    return len(ids)


def deliveries(session, *, hook_id=None, limit=50):
    """The latest deliveries (newest first) with their attempts: [(delivery, [attempt...])]."""
    query = select(HookDelivery).order_by(HookDelivery.id.desc()).limit(limit)
    if hook_id is not None:
        query = query.where(HookDelivery.hook_id == hook_id)
    rows = session.exec(query).all()
    tries = {}
    if rows:
        found = session.exec(
            select(HookAttempt)
            .where(HookAttempt.delivery_id.in_([d.id for d in rows]))
            .order_by(HookAttempt.delivery_id, HookAttempt.number)
        ).all()
        for attempt in found:
            tries.setdefault(attempt.delivery_id, []).append(attempt)
    return [(d, tries.get(d.id, [])) for d in rows]
