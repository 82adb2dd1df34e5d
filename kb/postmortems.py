"""Postmortems: create and update from documents, with revisions and the change log.

Every function takes the session first, flushes and never commits; the caller commits once.
"""

from datetime import date

from sqlalchemy import func
from sqlmodel import select

from kb import accounts, audit
from kb.document import canonical, to_document
from kb.models import (
    LABEL_FIELDS,
    SECTIONS,
    TIMESTAMPS,
    ActionItem,
    Change,
    Factor,
    Label,
    Postmortem,
    Revision,
    utcnow,
)

SCALARS = ("title", "kind", "status", "severity", "visibility", "trigger", *TIMESTAMPS, *SECTIONS)


class Conflict(Exception):
    """A save based on a version that is no longer the current one."""

    def __init__(self, postmortem, base_version):
        self.postmortem = postmortem
        self.base_version = base_version
        super().__init__(
            f"{postmortem.ref} was changed by someone else: your copy is version "
            f"{base_version}, the current one is version {postmortem.version}"
        )


def visible(session, user):
    """A query for the postmortems `user` may see (None means the system: everything)."""
    return select(Postmortem).where(accounts.visibility_filter(user))


def get(session, ref, user):
    """The postmortem with this ref if it exists and `user` may see it, else None."""
    return session.exec(visible(session, user).where(Postmortem.ref == ref)).first()


def listing(session, user, *, limit=50, offset=0, status=None):
    """Postmortems newest first (by start, then by creation), through the visibility filter."""
    query = visible(session, user)
    if status:
        query = query.where(Postmortem.status == status)
    newest = func.coalesce(Postmortem.started_at, Postmortem.created_at)
    query = query.order_by(newest.desc(), Postmortem.id.desc()).offset(offset).limit(limit)
    return session.exec(query).all()


def count(session, user, *, status=None):
    """How many postmortems `user` may see."""
    query = select(func.count()).select_from(Postmortem).where(accounts.visibility_filter(user))
    if status:
        query = query.where(Postmortem.status == status)
    return session.exec(query).one()


def next_ref(session, year):
    """The next free INC-<year>-NNN reference."""
    prefix = f"INC-{year}-"
    refs = session.exec(select(Postmortem.ref).where(Postmortem.ref.startswith(prefix))).all()
    numbers = [int(r[len(prefix) :]) for r in refs if r[len(prefix) :].isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1:03d}"


def save_document(session, doc, actor=None, *, base_version=None, note=""):
    """Create or update the postmortem described by a validated document.

    Returns (postmortem, changed). A save that changes nothing adds no revision. When
    `base_version` is given and is not the current version, raises Conflict.
    """
    existing = None
    if doc.get("ref"):
        existing = session.exec(select(Postmortem).where(Postmortem.ref == doc["ref"])).first()
    if existing is None:
        return _create(session, doc, actor, note), True
    if base_version is not None and base_version != existing.version:
        raise Conflict(existing, base_version)
    before = to_document(existing)
    if canonical({**doc, "ref": existing.ref}) == before:
        return existing, False
    _apply(existing, doc)
    session.flush()
    after = to_document(existing)
    if after == before:
        return existing, False
    existing.version += 1
    existing.updated_at = utcnow()
    _record_revision(session, existing, after, actor, note)
    changed = [k for k in after if after[k] != before[k]]
    if before["status"] != after["status"]:
        audit.record(
            session, actor, "status", existing.ref, f"{before['status']} -> {after['status']}"
        )
    if before["visibility"] != after["visibility"]:
        audit.record(
            session,
            actor,
            "visibility",
            existing.ref,
            f"{before['visibility']} -> {after['visibility']}",
        )
    audit.record(session, actor, "edit", existing.ref, "changed " + ", ".join(changed))
    session.flush()
    return existing, True


def _create(session, doc, actor, note):
    ref = doc.get("ref")
    if not ref:
        started = doc.get("started_at")
        ref = next_ref(session, (started or date.today()).year)
    pm = Postmortem(ref=ref, title=doc["title"])
    _apply(pm, doc)
    session.add(pm)
    session.flush()
    _record_revision(session, pm, to_document(pm), actor, note or "created")
    audit.record(session, actor, "create", pm.ref, pm.title)
    return pm


def _apply(pm, doc):
    for field in SCALARS:
        setattr(pm, field, doc[field])
    pm.timeline = [dict(e) for e in doc["timeline"]]
    pm.links = [dict(link) for link in doc["links"]]
    pm.labels = [
        Label(field=field, value=value, position=i)
        for field in LABEL_FIELDS
        for i, value in enumerate(doc[field])
    ]
    pm.factors = [
        Factor(position=i, text=f["text"], category=f["category"])
        for i, f in enumerate(doc["contributing_factors"])
    ]
    pm.action_items = [
        ActionItem(
            position=i,
            title=a["title"],
            owner=a["owner"],
            due=date.fromisoformat(a["due"]) if a["due"] else None,
            status=a["status"],
            url=a["url"],
            factor=a["factor"],
        )
        for i, a in enumerate(doc["action_items"])
    ]


def _record_revision(session, pm, document, actor, note):
    session.add(
        Revision(
            postmortem_id=pm.id,
            number=pm.version,
            author_id=getattr(actor, "id", None),
            note=note[:500],
            document=document,
        )
    )
    session.add(Change(postmortem_id=pm.id, ref=pm.ref, op="upsert"))


def revisions(session, pm):
    """The revisions of a postmortem, newest first."""
    query = select(Revision).where(Revision.postmortem_id == pm.id).order_by(Revision.number.desc())
    return session.exec(query).all()
