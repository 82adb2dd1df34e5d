"""Postmortems: create and update from documents, with revisions and the change log.

Every function takes the session first, flushes and never commits; the caller commits once.
"""

import copy
import re
import time
from datetime import date, timedelta

from sqlalchemy import and_, case, exists, func, or_
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import select

from kb import accounts, audit, markdown, owners
from kb.db import begin_write
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
    SectionHtml,
    User,
    utcnow,
)
from kb.reviews import queue_decided, queue_requested

SCALARS = ("title", "kind", "status", "severity", "visibility", "trigger", *TIMESTAMPS, *SECTIONS)


class Conflict(Exception):
    """A save based on a version that is no longer the current one."""

    def __init__(self, postmortem, base_version, message=None):
        self.postmortem = postmortem
        self.base_version = base_version
        super().__init__(
            message
            or f"{postmortem.ref} was changed by someone else: your copy is version "
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

    Returns (postmortem, changed). A save that changes nothing adds no revision. The update
    is conditional on the base version in the database itself (`base_version`, or else the
    version this session read), so of concurrent saves on one base exactly one wins and the
    others raise Conflict.
    """
    begin_write(session)
    doc = owners.normalise_document(session, doc)
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
    base = existing.version
    if not _claim_version(session, existing, base):
        # Someone saved since this session read it: read their version, and give way
        # (unless they saved exactly this content).
        session.expire(existing)
        if canonical({**doc, "ref": existing.ref}) == to_document(existing):
            return existing, False
        raise Conflict(existing, base)
    _apply(existing, doc)
    session.flush()
    after = to_document(existing)
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


def _claim_version(session, pm, base):
    """Move `pm` from version `base` to the next one in the database, if it is still there.

    The first write of the save: a conditional UPDATE, which holds the row (PostgreSQL) or
    the database (SQLite) until commit, so the labels, factors, action items and revision
    written after it are never written by two transactions at once. A concurrent save on the
    same base waits here, then matches no row.
    """
    now = utcnow()
    claimed = session.execute(
        sql_update(Postmortem)
        .where(Postmortem.id == pm.id, Postmortem.version == base)
        .values(version=base + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return False
    # The row moved on in the database; the loaded object says so without another UPDATE.
    set_committed_value(pm, "version", base + 1)
    set_committed_value(pm, "updated_at", now)
    return True


MAX_REF_ATTEMPTS = 100  # more than the writers that could race for one number


def _create(session, doc, actor, note):
    """Insert a new postmortem; a ref another transaction took meanwhile is never a 500.

    A generated ref that was taken between reading the highest number and inserting is
    retried with the next free one; a ref the document names is a Conflict.
    """
    for _attempt in range(MAX_REF_ATTEMPTS):
        ref = doc.get("ref")
        if not ref:
            started = doc.get("started_at")
            ref = next_ref(session, (started or date.today()).year)
        pm = Postmortem(ref=ref, title=doc["title"])
        _apply(pm, doc)
        try:
            with session.begin_nested():
                session.add(pm)
                session.flush()
        except IntegrityError:
            taken = session.exec(select(Postmortem).where(Postmortem.ref == ref)).first()
            if taken is None:
                raise  # not the ref: a refusal of another kind, for the caller to report
            if doc.get("ref"):
                raise Conflict(
                    taken,
                    None,
                    f"{ref} was created by someone else at the same time: "
                    f"load it and save your changes on top of it",
                ) from None
            continue
        _record_revision(session, pm, to_document(pm), actor, note or "created")
        audit.record(session, actor, "create", pm.ref, pm.title)
        return pm
    raise Conflict(None, None, "Too many postmortems are being created at once: try again.")


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
    _render_sections(pm)


def _render_sections(pm):
    """Store each section's HTML, rendered once here rather than on every view."""
    stored = {row.section: row for row in pm.rendered}
    keep = []
    left = markdown.SAVE_BUDGET  # nine slow sections must not cost nine budgets
    for field in SECTIONS:
        text = getattr(pm, field)
        if not text:
            continue
        source = markdown.fingerprint(text)
        row = stored.get(field)
        if row is None or row.source != source:
            budget = max(markdown.MIN_BUDGET, min(markdown.RENDER_BUDGET, left))
            started = time.thread_time()
            result = markdown.render_checked(text, budget)
            left -= time.thread_time() - started
            row = row or SectionHtml(section=field)
            row.source, row.html, row.refused = source, result.html, result.refused
        keep.append(row)
    pm.rendered = keep


def section_html(pm):
    """{section: HTML} of a postmortem's non-empty sections: the render stored at save, or
    one made now (within the budget) for a section saved before renders were stored."""
    stored = {row.section: row for row in pm.rendered}
    out = {}
    for field in SECTIONS:
        text = getattr(pm, field)
        if not text:
            continue
        row = stored.get(field)
        if row is not None and row.source == markdown.fingerprint(text):
            out[field] = row.html
        else:
            out[field] = markdown.render(text)
    return out


AUTOSAVE_NOTE = "autosave"
AUTOSAVE_WINDOW = timedelta(minutes=10)


def _record_revision(session, pm, document, actor, note):
    """Add revision number `pm.version`, or fold an autosave into the same author's autosave
    of a moment ago (which then becomes number `pm.version`, keeping when it started).

    Typing in the editor saves every few seconds; one revision per keystroke pause would bury
    the history, so consecutive autosaves by one person within ten minutes make one revision.
    A revision's number is the version it holds, so one number names a state everywhere.
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
        latest.started_at = latest.started_at or latest.created_at
        latest.document = document
        latest.created_at = now
        latest.number = pm.version
        return
    session.add(
        Revision(
            postmortem_id=pm.id,
            # The version it holds: never below an earlier number (the version only grows).
            number=max(pm.version, (latest.number + 1) if latest else 1),
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
    _check_editor(actor, pm)
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


def _check_editor(actor, pm):
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


def amendments(session, pm):
    """The amendments of a published postmortem (revisions with a note), newest first."""
    query = (
        select(Revision)
        .where(Revision.postmortem_id == pm.id, Revision.amendment != "")
        .order_by(Revision.number.desc())
    )
    return session.exec(query).all()


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


def create(session, raw, actor, *, note="created"):
    """Create a postmortem for a person from a raw document: always as a draft (check_new).

    Returns (postmortem, created): not created when a postmortem with the document's ref
    appeared meanwhile (the caller refuses that as a conflict).
    """
    doc = validate(raw)
    check_new(doc)
    return save_document(session, doc, actor, note=note)


def update(session, pm, raw, actor, *, base_version, note="", amendment=""):
    """Save an edited document on top of `base_version`, within the rules of check_edit.

    `raw` may leave out status and published_at (they are kept); when it gives them, they
    must be the current ones. On a published postmortem `amendment` is the required note.
    All or nothing: a document with any error changes nothing (the API, import, restore).
    """
    current = _prepare(actor, pm)
    doc = validate(_with_kept(raw, pm, current))
    return _save_edit(session, pm, doc, actor, base_version, note, amendment)


def save_draft(session, pm, raw, actor, *, base_version, note="", amendment=""):
    """Save what the editor sends, except values that cannot be stored: (pm, changed, refused).

    Writing is never blocked by one bad value: each refused value (a FieldError in `refused`)
    is replaced by the stored one (or left out of a list), and everything else is saved. A
    published postmortem changes only by amendment, all or nothing, as `update`.
    """
    current = _prepare(actor, pm)
    raw = _with_kept(raw, pm, current)
    try:
        doc = validate(raw)
        refused = []
    except DocumentError as exc:
        if pm.status == "published":
            raise
        refused = exc.errors
        doc = _storable(raw, current, refused)
    pm, changed = _save_edit(session, pm, doc, actor, base_version, note, amendment)
    return pm, changed, refused


_PATH_RE = re.compile(r"^(\w+)(?:\[(\d+)\](?:\.(\w+))?)?$")


def _storable(raw, current, errors):
    """`raw` with every refused value replaced by the stored one; raise when that is not enough.

    First each value at fault (a field, a list entry, one key of a row) falls back alone; a
    field that is still refused then falls back whole.
    """
    raw = copy.deepcopy(raw)
    fields = set()
    dropped = {}
    for error in errors:
        match = _PATH_RE.match(error.field)
        if match is None or match.group(1) not in current or match.group(1) in ("ref", "format"):
            raise DocumentError(errors)
        field, index, key = match.group(1), match.group(2), match.group(3)
        fields.add(field)
        value = raw.get(field)
        if index is None or not isinstance(value, list) or int(index) >= len(value):
            raw[field] = current[field]
        elif key is None:
            dropped.setdefault(field, set()).add(int(index))
        elif isinstance(value[int(index)], dict):
            stored = current[field][int(index)] if int(index) < len(current[field]) else {}
            value[int(index)][key] = stored.get(key)
    for field, indices in dropped.items():
        if isinstance(raw.get(field), list):
            raw[field] = [v for i, v in enumerate(raw[field]) if i not in indices]
    try:
        return validate(raw)
    except DocumentError as again:
        for error in again.errors:
            match = _PATH_RE.match(error.field)
            if match is None or match.group(1) not in current:
                raise DocumentError(errors) from again
            raw[match.group(1)] = current[match.group(1)]
    try:
        return validate(raw)
    except DocumentError as last:
        raise DocumentError(errors) from last


def _prepare(actor, pm):
    _check_editor(actor, pm)
    return to_document(pm)


def _with_kept(raw, pm, current):
    raw = {**raw, "ref": pm.ref}
    for field in ("status", "published_at"):
        if raw.get(field) is None:
            raw[field] = current[field]
    return raw


def _save_edit(session, pm, doc, actor, base_version, note, amendment):
    doc = owners.normalise_document(session, doc)
    text = check_edit(pm, doc, actor, note=note, amendment=amendment)
    if text:
        note = f"amended: {text}" if note in ("", "edited") else f"{note}; amended: {text}"
    pm, changed = save_document(session, doc, actor, base_version=base_version, note=note)
    if changed and text:
        revisions(session, pm)[0].amendment = text
        audit.record(session, actor, "amend", pm.ref, text)
        session.flush()
    return pm, changed


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


def revision(session, pm, number):
    """One revision of a postmortem, or None."""
    query = select(Revision).where(Revision.postmortem_id == pm.id, Revision.number == number)
    return session.exec(query).first()


RESTORE_KEEPS = ("status", "published_at", "visibility", "readers")


def restored_document(session, pm, number):
    """The document restoring revision `number` would save (what the confirmation shows)."""
    old = revision(session, pm, number)
    if old is None:
        raise WorkflowError(f"{pm.ref} has no revision {number}.")
    current = to_document(pm)
    return {**old.document, **{field: current[field] for field in RESTORE_KEEPS}}


def restore(session, pm, number, actor, *, base_version=None, amendment=""):
    """Make an earlier revision's content current again (as a new revision).

    Status, published_at, visibility and readers stay as they are now: an old revision is
    content, not a way around review or around who may read it.
    """
    raw = restored_document(session, pm, number)
    return update(
        session,
        pm,
        raw,
        actor,
        base_version=base_version,
        note=f"restored revision {number}",
        amendment=amendment,
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
