"""The audit log: who created, edited, published or read what."""

from sqlmodel import select

from kb.models import AuditEvent


def record(session, actor, action, ref="", detail=""):
    """Add an audit event; `actor` is a User or None for the system (CLI, import)."""
    session.add(
        AuditEvent(
            actor_id=getattr(actor, "id", None),
            actor_email=getattr(actor, "email", "") or "system",
            action=action,
            ref=ref or "",
            detail=(detail or "")[:1000],
        )
    )


def recent(session, *, limit=200, ref=None, action=None):
    """The newest audit events first, optionally for one postmortem or one action."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if ref:
        query = query.where(AuditEvent.ref == ref)
    if action:
        query = query.where(AuditEvent.action == action)
    return session.exec(query).all()
