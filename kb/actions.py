"""Action items across postmortems: the lists and filters of the actions page, who owns an
item, and marking progress on one (a small edit of its postmortem, so a revision).

Every function takes the session first, flushes and never commits; the caller commits once.
"""

from datetime import timedelta

from sqlalchemy import and_, case, exists, func, or_
from sqlmodel import select

from kb import accounts, owners
from kb.document import to_document, validate
from kb.models import OPEN_ACTION_STATUSES, ActionItem, Label, Postmortem, utcnow
from kb.postmortems import save_document
from kb.workflow import WorkflowError, can_edit


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
    an item owned by the team; `owner` matches every way of writing the same person or team
    (kb.owners), so items saved before owners were normalised are found too.
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
        found = owners.directory(session)
        key = found.normalise(owner)
        spellings = {
            raw.lower()
            for raw in owners.visible_owners(session, user)
            if found.normalise(raw) == key
        }
        spellings.add(owner.lower())
        query = query.where(func.lower(ActionItem.owner).in_(sorted(spellings)))
    due_last = case((ActionItem.due.is_(None), 1), else_=0)
    query = query.order_by(due_last, ActionItem.due, Postmortem.ref, ActionItem.position)
    return session.exec(query.limit(limit)).all()


def action_owners(session, user):
    """The owners of the action items `user` may see, each person or team once, as
    (value for the filter, label): people by name, teams and free text as written."""
    found = owners.directory(session)
    grouped = {found.normalise(raw) for raw in owners.visible_owners(session, user)}
    grouped.discard(None)
    return sorted(((key, found.label(key)) for key in grouped), key=lambda o: o[1].lower())
