"""What happened, written down for each hook that wants to know: one HookDelivery per hook,
added in the caller's transaction (a change rolled back tells no one).

A restricted postmortem is written only for hooks marked to receive restricted postmortems.
The data written is the event's payload without its envelope (payloads.py adds the version,
the delivery id and the time of sending). Every function flushes and never commits, except
`digest_sent`, which the digest's send log calls with its `commit`, as it does for each row.
"""

import hashlib
import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from kb.models import (
    OPEN_ACTION_STATUSES,
    ActionItem,
    Hook,
    HookDelivery,
    Postmortem,
    ReviewRequest,
    User,
    utcnow,
)

SUMMARY_MAX = 1000  # characters of a postmortem's summary in a payload
OVERDUE_ITEMS_MAX = 1000  # overdue items looked at by one check (oldest due first)


def _iso(value):
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def _link(endpoint, **values):
    from kb.digest.links import external  # needs the app (BASE_URL), not a request

    return external(endpoint, **values)


def postmortem_data(pm):
    """The postmortem as a payload tells of it (docs/webhooks.md)."""
    summary = pm.summary or ""
    if len(summary) > SUMMARY_MAX:
        summary = summary[: SUMMARY_MAX - 1].rstrip() + "…"
    return {
        "ref": pm.ref,
        "title": pm.title,
        "kind": pm.kind,
        "status": pm.status,
        "severity": pm.severity,
        "visibility": pm.visibility,
        "teams": pm.label_values("teams"),
        "services": pm.label_values("services"),
        "started_at": _iso(pm.started_at),
        "published_at": _iso(pm.published_at),
        "summary": summary,
        "url": _link("postmortems.show", ref=pm.ref),
    }


def person(user):
    """Who acted, as a payload names them."""
    if user is None:
        return None
    return {"email": user.email, "name": user.name or ""}


def interested(session, event, pm=None):
    """The active hooks that asked for `event` and may be told about `pm`."""
    restricted = pm is not None and pm.visibility == "restricted"
    found = session.exec(select(Hook).where(Hook.active.is_(True)).order_by(Hook.id)).all()
    return [h for h in found if event in h.events and (h.receives_restricted or not restricted)]


def queue(session, event, data, *, pm=None, dedupe_key=None, hooks=None, now=None):
    """Write one delivery of `event` per interested hook; returns the deliveries written.

    With `dedupe_key`, a hook that has a delivery with that key already gets no second one.
    """
    hooks = interested(session, event, pm) if hooks is None else hooks
    if not hooks:
        return []
    done = set()
    if dedupe_key is not None:
        done = set(
            session.exec(
                select(HookDelivery.hook_id).where(HookDelivery.dedupe_key == dedupe_key)
            ).all()
        )
    now = now or utcnow()
    made = []
    for hook in hooks:
        if hook.id in done:
            continue
        delivery = HookDelivery(
            hook_id=hook.id,
            uuid=str(uuid.uuid4()),
            event=event,
            postmortem_id=pm.id if pm is not None else None,
            data=data,
            dedupe_key=dedupe_key,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(delivery)
        made.append(delivery)
    session.flush()
    return made


def on_transition(session, pm, action, actor, comment=""):
    """The events of a review transition just saved (kb.workflow.transition): review asked,
    review decided, and published."""
    if action == "request-review":
        reviewers = session.exec(
            select(User)
            .join(ReviewRequest, ReviewRequest.reviewer_id == User.id)
            .where(ReviewRequest.postmortem_id == pm.id, ReviewRequest.state == "pending")
            .order_by(ReviewRequest.id)
        ).all()
        data = {
            "postmortem": postmortem_data(pm),
            "actor": person(actor),
            "reviewers": [person(u) for u in reviewers],
        }
        queue(session, "review.requested", data, pm=pm)
    elif action in ("approve", "request-changes"):
        decision = "approved" if action == "approve" else "changes-requested"
        data = {
            "postmortem": postmortem_data(pm),
            "actor": person(actor),
            "decision": decision,
            "comment": comment or "",
        }
        queue(session, "review.decided", data, pm=pm)
    if pm.status == "published" and action == "approve":
        data = {"postmortem": postmortem_data(pm), "actor": person(actor)}
        queue(session, "postmortem.published", data, pm=pm)


def _item_key(pm, item, today):
    # Action items are rewritten with each save of their postmortem (their ids change):
    # an item is known by its postmortem and its title.
    title = hashlib.sha256(" ".join(item.title.lower().split()).encode()).hexdigest()[:16]
    return f"overdue:{pm.id}:{title}:{today.isoformat()}"


def queue_overdue(session, today=None, *, now=None):
    """One action_item.overdue per open item past its due date (on a published postmortem),
    per hook and day; returns how many deliveries were written."""
    hooks = interested(session, "action_item.overdue")
    if not hooks:
        return 0
    today = today or utcnow().date()
    rows = session.exec(
        select(ActionItem, Postmortem)
        .join(Postmortem, Postmortem.id == ActionItem.postmortem_id)
        .where(
            Postmortem.status == "published",
            ActionItem.status.in_(OPEN_ACTION_STATUSES),
            ActionItem.due < today,
        )
        .order_by(ActionItem.due, ActionItem.id)
        .limit(OVERDUE_ITEMS_MAX)
    ).all()
    keys = {_item_key(pm, item, today) for item, pm in rows}
    done = set()
    if keys:
        done = set(
            session.exec(
                select(HookDelivery.hook_id, HookDelivery.dedupe_key).where(
                    HookDelivery.dedupe_key.in_(sorted(keys))
                )
            ).all()
        )
    written = 0
    for item, pm in rows:
        key = _item_key(pm, item, today)
        wanted = [
            h
            for h in hooks
            if (h.id, key) not in done and (h.receives_restricted or pm.visibility != "restricted")
        ]
        if not wanted:
            continue
        data = {
            "postmortem": postmortem_data(pm),
            "action_item": {
                "title": item.title,
                "owner": item.owner,
                "due": _iso(item.due),
                "status": item.status,
                "url": item.url,
                "days_overdue": (today - item.due).days,
            },
        }
        written += len(
            queue(
                session, "action_item.overdue", data, pm=pm, dedupe_key=key, hooks=wanted, now=now
            )
        )
    return written


def digest_sent(session, report, commit):
    """digest.sent, once per month and hook, after a run of the digest that sent mail."""
    if report.dry_run or not report.sent:
        return 0
    data = {
        "digest": {
            "month": report.month,
            "recipients": report.recipients,
            "sent": len(report.sent),
            "not_delivered": len(report.missing),
            "url": _link("digest.preview", month=report.month),
        }
    }
    try:
        written = queue(session, "digest.sent", data, dedupe_key=f"digest:{report.month}")
        commit()
    except IntegrityError:  # another run of the same month wrote it first: theirs stands
        session.rollback()
        return 0
    return len(written)
