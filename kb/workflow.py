"""The review workflow and the rules of editing: who may edit, amend or change who can read
a postmortem, what an edit may not do, and the transitions draft -> in-review -> published.

Above kb.postmortems (a transition is a save) and below kb.editing (which checks a person's
edit here before saving it). Every function takes the session first, flushes and never
commits; the caller commits once.
"""

from sqlmodel import select

from kb import accounts
from kb.document import DocumentError, canonical, format_datetime, to_document, validate
from kb.hooks import events as hook_events
from kb.models import ReviewRequest, Revision, User, utcnow
from kb.postmortems import Conflict, save_document
from kb.reviews import queue_decided, queue_requested
from kb.revisions import AUTOSAVE_NOTE


class WorkflowError(ValueError):
    """A change the workflow does not allow; the message says why, in words for a person.

    `field` names the field at fault when there is one (status, visibility, note...).
    """

    def __init__(self, message, field=""):
        super().__init__(message)
        self.field = field


class NotAllowed(WorkflowError):
    """A change this person may not make (where another person could)."""


AMENDMENT_MAX = 200
ACCESS_FIELDS = ("authors", "readers", "teams")  # who may read a restricted postmortem


def is_author(user, pm):
    """Whether `user` is listed among the postmortem's authors."""
    emails = {a.lower() for a in pm.label_values("authors")}
    return user is not None and user.email.lower() in emails


def may_amend(user, pm):
    """Who may change a published postmortem: its authors, its teams' authors, admins."""
    if user is None or not accounts.may_see(user, pm):
        return False
    if user.role == "admin":
        return True
    in_team = bool(set(user.teams) & set(pm.label_values("teams")))
    return user.role == "author" and (is_author(user, pm) or in_team)


def may_change_access(user, pm):
    """Visibility, and who may read a restricted postmortem, is for its authors and admins."""
    if user is None:
        return False
    return user.role == "admin" or (user.role == "author" and is_author(user, pm))


def can_edit(user, pm):
    """Authors and admins may edit a draft they may see; a published one, see may_amend."""
    if user is None or user.role not in ("author", "admin") or not accounts.may_see(user, pm):
        return False
    return pm.status != "published" or may_amend(user, pm)


def check_new(doc):
    """Refuse a new postmortem that claims to be past review: it starts as a draft.

    Only the system (`kb import`, the seed) saves history with its status; people move a
    postmortem on through `transition`.
    """
    if doc["status"] != "draft":
        raise WorkflowError(
            f"a new postmortem starts as a draft, not {doc['status']}: ask for review and "
            "publish through its transitions (POST /api/v1/postmortems/{ref}/transitions); "
            "published history is imported with `kb import`",
            field="status",
        )
    if doc["published_at"] is not None:
        raise WorkflowError(
            "is set when the postmortem is published, not by the writer: leave it out",
            field="published_at",
        )


def check_edit(pm, doc, actor, *, note="", amendment=""):
    """Refuse what an edit of `pm` into `doc` may not do; return the amendment note or "".

    Status and published_at change only through `transition`. Visibility (and, on a
    restricted postmortem, its authors, readers and teams) is changed only by its authors and
    admins. A change to a published postmortem is an amendment: only `may_amend` people make
    one, never by autosave, and always with a short note.
    """
    check_editor(actor, pm)
    current = to_document(pm)
    if doc["status"] != current["status"]:
        raise WorkflowError(
            "changes only through the review transitions (request review, approve...), "
            "not by editing",
            field="status",
        )
    if format_datetime(doc["published_at"]) != current["published_at"]:
        raise WorkflowError(
            "is set when the postmortem is published and cannot be edited", field="published_at"
        )
    access = ("visibility",)
    if "restricted" in (doc["visibility"], current["visibility"]):
        access += ACCESS_FIELDS
    changed = [f for f in access if _people(doc[f]) != _people(current[f])]
    if changed and not may_change_access(actor, pm):
        raise NotAllowed(
            f"Only the authors of {pm.ref} and admins may change who can read it ({changed[0]}).",
            field=changed[0],
        )
    if pm.status != "published" or canonical({**doc, "ref": pm.ref}) == current:
        return ""
    if note == AUTOSAVE_NOTE:
        raise WorkflowError(
            "a published postmortem is not saved as you type: save it with an amendment note",
            field="note",
        )
    text = " ".join((amendment or "").split())
    if not text:
        raise WorkflowError(
            "this postmortem is published, so a change is an amendment: an amendment needs a "
            "note saying what changed (for example: corrected the detection time)",
            field="note",
        )
    if len(text) > AMENDMENT_MAX:
        raise WorkflowError(
            f"must be at most {AMENDMENT_MAX} characters (got {len(text)})", field="note"
        )
    return text


def check_editor(actor, pm):
    """Refuse (NotAllowed) an edit of `pm` by `actor` unless can_edit allows it."""
    if can_edit(actor, pm):
        return
    if pm.status == "published":
        raise NotAllowed(
            "Only its authors, the authors of its teams and admins may amend a published "
            "postmortem."
        )
    raise NotAllowed("You may not edit this postmortem.")


def _people(value):
    return sorted(v.lower() for v in value) if isinstance(value, list) else value


def is_own(session, user, pm):
    """Whether `user` wrote this postmortem: a listed author, or whoever created it."""
    if user.email.lower() in {a.lower() for a in pm.label_values("authors")}:
        return True
    first = session.exec(
        select(Revision.author_id).where(Revision.postmortem_id == pm.id).order_by(Revision.number)
    ).first()
    return first is not None and first == user.id


def review_requests(session, pm):
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
    requests = review_requests(session, pm)
    pending = [(r, u) for r, u in requests if r.state == "pending" and u.id != actor.id]
    own_pending = [r for r, u in requests if r.state == "pending" and u.id == actor.id]
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
        queue_requested(session, pm, people, actor)
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
        decision = "approved" if action == "approve" else "changes-requested"
        queue_decided(session, pm, decision, actor, comment)
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
    hook_events.on_transition(session, pm, action, actor, comment)
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
        if not accounts.may_see(user, pm, asked_to_review=True):
            raise WorkflowError(f"{email} may not see this restricted postmortem.")
        people.append(user)
    return people
