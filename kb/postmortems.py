"""Postmortems: create and update from documents, with revisions and the change log.

Every function takes the session first, flushes and never commits; the caller commits once.
"""

from datetime import date, timedelta

from sqlalchemy import and_, case, exists, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import select

from kb import accounts, audit
from kb.document import DocumentError, canonical, format_datetime, to_document, validate
from kb.models import (
    LABEL_FIELDS,
    OPEN_ACTION_STATUSES,
    SECTIONS,
    TIMESTAMPS,
    ActionItem,
    Change,
    Factor,
    Label,
    Postmortem,
    ReviewRequest,
    Revision,
    User,
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
    before = to_document(existing)
    if canonical({**doc, "ref": existing.ref}) == before:
        return existing, False  # the same content is never a conflict, whatever its base
    if base_version is not None and base_version != existing.version:
        raise Conflict(existing, base_version)
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


AUTOSAVE_NOTE = "autosave"
AUTOSAVE_WINDOW = timedelta(minutes=10)


def _record_revision(session, pm, document, actor, note):
    """Add a revision, or fold an autosave into the same author's autosave of a moment ago.

    Typing in the editor saves every few seconds; one revision per keystroke pause would bury
    the history, so consecutive autosaves by one person within ten minutes make one revision.
    """
    session.add(Change(postmortem_id=pm.id, ref=pm.ref, op="upsert"))
    latest = session.exec(
        select(Revision).where(Revision.postmortem_id == pm.id).order_by(Revision.number.desc())
    ).first()
    now = utcnow()
    if (
        note == AUTOSAVE_NOTE
        and latest is not None
        and latest.note == AUTOSAVE_NOTE
        and latest.author_id == getattr(actor, "id", None)
        and now - latest.created_at <= AUTOSAVE_WINDOW
    ):
        latest.document = document
        latest.created_at = now
        return
    session.add(
        Revision(
            postmortem_id=pm.id,
            number=(latest.number + 1) if latest else 1,
            author_id=getattr(actor, "id", None),
            note=note[:500],
            document=document,
        )
    )


def revisions(session, pm):
    """The revisions of a postmortem, newest first."""
    query = select(Revision).where(Revision.postmortem_id == pm.id).order_by(Revision.number.desc())
    return session.exec(query).all()


# --- writing and the review workflow ------------------------------------------------------


class WorkflowError(ValueError):
    """A change the workflow does not allow; the message says why, in words for a person."""


def can_edit(user, pm):
    """Authors and admins may edit what they may see."""
    return user is not None and user.role in ("author", "admin") and accounts.may_see(user, pm)


def is_own(session, user, pm):
    """Whether `user` wrote this postmortem: a listed author, or whoever created it."""
    if user.email.lower() in {a.lower() for a in pm.label_values("authors")}:
        return True
    first = session.exec(
        select(Revision.author_id).where(Revision.postmortem_id == pm.id).order_by(Revision.number)
    ).first()
    return first is not None and first == user.id


def create_draft(session, title, actor, *, kind="incident"):
    """Start a postmortem from a title; the author is the person who started it."""
    raw = {"title": title, "kind": kind, "authors": [actor.email] if actor else []}
    pm, _ = save_document(session, validate(raw), actor, note="created")
    return pm


def update(session, pm, raw, actor, *, base_version, note=""):
    """Save an edited document on top of `base_version`; status is kept (see transition)."""
    if not can_edit(actor, pm):
        raise WorkflowError("You may not edit this postmortem.")
    raw = {**raw, "ref": pm.ref, "status": pm.status}
    if pm.status == "published" and not raw.get("published_at"):
        raw["published_at"] = to_document(pm)["published_at"]
    return save_document(session, validate(raw), actor, base_version=base_version, note=note)


def reviews(session, pm):
    """The review requests of a postmortem with their reviewers, newest first."""
    query = (
        select(ReviewRequest, User)
        .join(User, User.id == ReviewRequest.reviewer_id)
        .where(ReviewRequest.postmortem_id == pm.id)
        .order_by(ReviewRequest.id.desc())
    )
    return session.exec(query).all()


TRANSITIONS = {
    "request-review": ("draft", "in-review"),
    "approve": ("in-review", "published"),
    "request-changes": ("in-review", "draft"),
    "withdraw": ("in-review", "draft"),
    "unpublish": ("published", "draft"),
}


def transition(session, pm, action, actor, *, reviewers=(), comment="", base_version=None):
    """Move a postmortem through draft -> in-review -> published (and back, with a reason).

    request-review names reviewers; approve (by a named reviewer or an admin, never by one
    of its authors) publishes; request-changes and withdraw go back to draft with a comment;
    unpublish (admins) takes a published postmortem back to draft with a reason.
    """
    if action not in TRANSITIONS:
        raise WorkflowError(f"Unknown action {action!r}.")
    source, target = TRANSITIONS[action]
    if pm.status != source:
        raise WorkflowError(
            f"{pm.ref} is {pm.status.replace('-', ' ')}; "
            f"{action.replace('-', ' ')} needs it to be {source.replace('-', ' ')}."
        )
    if base_version is not None and base_version != pm.version:
        raise Conflict(pm, base_version)
    comment = (comment or "").strip()
    pending = [(r, u) for r, u in reviews(session, pm) if r.state == "pending" and u.id != actor.id]
    own_pending = [r for r, u in reviews(session, pm) if r.state == "pending" and u.id == actor.id]
    note = action.replace("-", " ")
    if action == "request-review":
        if not can_edit(actor, pm):
            raise WorkflowError("Only authors and admins can ask for a review.")
        people = _reviewers(session, pm, actor, reviewers)
        for person in people:
            session.add(
                ReviewRequest(postmortem_id=pm.id, reviewer_id=person.id, requested_by_id=actor.id)
            )
        note = "review requested from " + ", ".join(p.email for p in people)
    elif action in ("approve", "request-changes"):
        if is_own(session, actor, pm):
            raise WorkflowError("Authors do not review their own postmortem: ask a colleague.")
        if not own_pending and actor.role != "admin":
            raise WorkflowError("Only a named reviewer or an admin can review this postmortem.")
        if action == "request-changes" and not comment:
            raise WorkflowError("Say what should change: a comment is required.")
        for request in own_pending:
            request.state = "approved" if action == "approve" else "changes-requested"
            request.comment = comment
            request.decided_at = utcnow()
        if action == "approve" and not own_pending:  # an admin reviewing without a request
            session.add(
                ReviewRequest(
                    postmortem_id=pm.id,
                    reviewer_id=actor.id,
                    state="approved",
                    comment=comment,
                    decided_at=utcnow(),
                )
            )
        for request, _user in pending:  # the decision is made; other requests are closed
            request.state = "superseded"
        note = f"{note}: {comment}" if comment else note
    elif action == "withdraw":
        if not can_edit(actor, pm):
            raise WorkflowError("Only authors and admins can withdraw a review request.")
        if not comment:
            raise WorkflowError("Give a reason for taking it back to draft.")
        for request, _user in pending:
            request.state = "withdrawn"
        note = f"withdrawn: {comment}"
    elif action == "unpublish":
        if actor.role != "admin":
            raise WorkflowError("Only admins can take a published postmortem back to draft.")
        if not comment:
            raise WorkflowError("Give a reason for taking it back to draft.")
        note = f"unpublished: {comment}"

    raw = to_document(pm)
    raw["status"] = target
    if target == "published":
        raw["published_at"] = raw["published_at"] or format_datetime(utcnow())
    elif target == "draft":
        raw["published_at"] = None
    try:
        doc = validate(raw)
    except DocumentError as exc:
        missing = "; ".join(str(e) for e in exc.errors)
        raise WorkflowError(
            f"Before it can be {target.replace('-', ' ')}, fill in: {missing}."
        ) from exc
    pm, _ = save_document(session, doc, actor, note=note[:500])
    return pm


def _reviewers(session, pm, actor, emails):
    emails = [accounts.normalise_email(e) for e in emails if e and e.strip()]
    if not emails:
        raise WorkflowError("Name at least one reviewer.")
    authors = {a.lower() for a in pm.label_values("authors")}
    people = []
    for email in dict.fromkeys(emails):
        user = accounts.get_user(session, email)
        if user is None or not user.active:
            raise WorkflowError(f"{email} is not an active user.")
        if user.role not in ("author", "admin"):
            raise WorkflowError(f"{email} is a reader; reviewers must be authors or admins.")
        if user.id == actor.id or email in authors:
            raise WorkflowError(f"{email} wrote this postmortem and cannot review it.")
        if not accounts.may_see(user, pm):
            raise WorkflowError(f"{email} may not see this restricted postmortem.")
        people.append(user)
    return people


def revision(session, pm, number):
    """One revision of a postmortem, or None."""
    query = select(Revision).where(Revision.postmortem_id == pm.id, Revision.number == number)
    return session.exec(query).first()


def restore(session, pm, number, actor, *, base_version=None):
    """Make an earlier revision current again (as a new revision); status is kept."""
    old = revision(session, pm, number)
    if old is None:
        raise WorkflowError(f"{pm.ref} has no revision {number}.")
    raw = {**old.document, "status": pm.status}
    raw["published_at"] = to_document(pm)["published_at"]
    return update(
        session, pm, raw, actor, base_version=base_version, note=f"restored revision {number}"
    )


def set_action_status(session, pm, index, status, actor):
    """Mark progress on one action item (a small edit of the document, so a revision)."""
    doc = to_document(pm)
    if not 0 <= index < len(doc["action_items"]):
        raise WorkflowError(f"{pm.ref} has no action item {index + 1}.")
    doc["action_items"][index]["status"] = status
    title = doc["action_items"][index]["title"]
    if not (can_edit(actor, pm) or owns_action(actor, doc["action_items"][index]["owner"])):
        raise WorkflowError("Only the owner, authors and admins can update this action item.")
    pm, _ = save_document(session, validate(doc), actor, note=f"action '{title[:80]}' -> {status}")
    return pm


def owns_action(user, owner):
    """Whether `user` owns an action item: named as its owner, or in the owning team."""
    owner = (owner or "").lower()
    return bool(owner) and (owner == user.email.lower() or owner in user.teams)


ACTION_VIEWS = ("open", "overdue", "due-soon", "done", "all")


def action_items(session, user, *, view="open", team=None, owner=None, today=None, limit=500):
    """Action items across every postmortem `user` may see, soonest due first.

    `view`: open (open or in progress), overdue (open and due before today), due-soon (open and
    due within 14 days), done (done or won't do), all. `team` matches the postmortem's teams or
    an item owned by the team; `owner` matches the owner exactly.
    """
    today = today or utcnow().date()
    query = (
        select(ActionItem, Postmortem)
        .join(Postmortem, ActionItem.postmortem_id == Postmortem.id)
        .where(accounts.visibility_filter(user))
    )
    active = ActionItem.status.in_(OPEN_ACTION_STATUSES)
    if view == "open":
        query = query.where(active)
    elif view == "overdue":
        query = query.where(active, ActionItem.due < today)
    elif view == "due-soon":
        query = query.where(
            active, ActionItem.due >= today, ActionItem.due <= today + timedelta(days=14)
        )
    elif view == "done":
        query = query.where(ActionItem.status.in_(("done", "wont-do")))
    if team:
        in_team = exists().where(
            and_(Label.postmortem_id == Postmortem.id, Label.field == "teams", Label.value == team)
        )
        query = query.where(or_(in_team, ActionItem.owner == team))
    if owner:
        query = query.where(func.lower(ActionItem.owner) == owner.lower())
    due_last = case((ActionItem.due.is_(None), 1), else_=0)
    query = query.order_by(due_last, ActionItem.due, Postmortem.ref, ActionItem.position)
    return session.exec(query.limit(limit)).all()


def action_owners(session, user):
    """Every owner named on an action item `user` may see."""
    query = (
        select(ActionItem.owner)
        .join(Postmortem, ActionItem.postmortem_id == Postmortem.id)
        .where(accounts.visibility_filter(user), ActionItem.owner.is_not(None))
        .distinct()
    )
    return sorted(session.exec(query).all())


def label_values(session, user, fields):
    """{field: sorted values} of these label fields on postmortems `user` may see: the
    editor's suggestion lists and the filters offer nothing from a postmortem unseen."""
    label = aliased(Label)  # not correlated with the visibility filter's own Label
    rows = session.exec(
        select(label.field, label.value)
        .join(Postmortem, label.postmortem_id == Postmortem.id)
        .where(label.field.in_(fields), accounts.visibility_filter(user))
        .distinct()
    ).all()
    found = {field: set() for field in fields}
    for field, value in rows:
        found[field].add(value)
    return {field: sorted(values) for field, values in found.items()}
