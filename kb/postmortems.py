"""Postmortems: read them through the visibility filter, and save documents as postmortems,
each save a revision and a row in the change log.

Who may change what, and the review workflow, are kb.workflow's; a person's edits go through
kb.editing, which checks them there and saves them here.

Every function takes the session first, flushes and never commits; the caller commits once.
"""

import time
from datetime import date

from sqlalchemy import and_, exists, func
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import select

from kb import accounts, audit, markdown, owners, revisions
from kb.db import begin_write
from kb.document import canonical, to_document
from kb.document_format import COLUMNS, LABEL_FIELDS
from kb.models import (
    SECTIONS,
    ActionItem,
    Change,
    Factor,
    Label,
    Postmortem,
    SectionHtml,
    utcnow,
)

SCALARS = COLUMNS  # the document's fields stored as columns of Postmortem


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


def same_ref(ref):
    """The condition for the postmortem named `ref`, ignoring case (as refs are unique)."""
    return func.lower(Postmortem.ref) == str(ref).lower()


def get(session, ref, user):
    """The postmortem with this ref if it exists and `user` may see it, else None."""
    return session.exec(visible(session, user).where(same_ref(ref))).first()


def listing(session, user, *, limit=50, offset=0, status=None):
    """Postmortems newest first (by start, then by creation), through the visibility filter."""
    query = visible(session, user)
    if status:
        query = query.where(Postmortem.status == status)
    newest = func.coalesce(Postmortem.started_at, Postmortem.created_at)
    query = query.order_by(newest.desc(), Postmortem.id.desc()).offset(offset).limit(limit)
    return session.exec(query).all()


def filtered_listing(
    session,
    user,
    *,
    equal=None,
    labels=None,
    started_from=None,
    started_before=None,
    limit=25,
    offset=0,
):
    """(how many match, one page of them): postmortems `user` may see, newest first.

    `equal` maps columns (status, kind, severity) to the value they must hold, `labels` maps
    label fields (services, teams, tags) to a value they must contain; `started_from` and
    `started_before` bound the start of the incident.
    """
    query = visible(session, user)
    for column, value in (equal or {}).items():
        query = query.where(getattr(Postmortem, column) == value)
    for field, value in (labels or {}).items():
        label = and_(
            Label.postmortem_id == Postmortem.id, Label.field == field, Label.value == value
        )
        query = query.where(exists().where(label))
    if started_from is not None:
        query = query.where(Postmortem.started_at >= started_from)
    if started_before is not None:
        query = query.where(Postmortem.started_at < started_before)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    newest = func.coalesce(Postmortem.started_at, Postmortem.created_at)
    page = query.order_by(newest.desc(), Postmortem.id.desc()).offset(offset).limit(limit)
    return total, session.exec(page).all()


def count(session, user, *, status=None):
    """How many postmortems `user` may see."""
    query = select(func.count()).select_from(Postmortem).where(accounts.visibility_filter(user))
    if status:
        query = query.where(Postmortem.status == status)
    return session.exec(query).one()


def next_ref(session, year, kind="incident"):
    """The next free INC-<year>-NNN reference (PM-<year>-NNN for a pre-mortem)."""
    prefix = f"{'PM' if kind == 'pre-mortem' else 'INC'}-{year}-"
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
    doc = _premortem_as_written(session, doc)
    existing = None
    if doc.get("ref"):
        existing = session.exec(select(Postmortem).where(same_ref(doc["ref"]))).first()
    if existing is None:
        created = _create(session, doc, actor, note)
        _follow_in_themes(session, created)
        return created, True
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
    _follow_in_themes(session, existing)
    return existing, True


def _premortem_as_written(session, doc):
    """`premortem` spelt as the pre-mortem's own ref (refs are one ignoring case), so that
    the pre-mortem's page finds what names it by the indexed column."""
    ref = doc.get("premortem")
    if not ref:
        return doc
    with session.no_autoflush:
        stored = session.exec(select(Postmortem.ref).where(same_ref(ref))).first()
    return {**doc, "premortem": stored} if stored and stored != ref else doc


def _follow_in_themes(session, pm):
    """Published, its factors join the nearest themes and it joins similar incidents at once
    (the saved factors are new rows); otherwise it leaves them (kb.insights.themes.following).
    In the save's own transaction, so the themes never disagree with what was committed."""
    from kb.insights.themes import following

    following.follow(session, pm)


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
            started = doc.get("started_at") or doc.get("planned_at")
            ref = next_ref(session, (started or date.today()).year, doc.get("kind"))
        pm = Postmortem(ref=ref, title=doc["title"])
        _apply(pm, doc)
        try:
            with session.begin_nested():
                session.add(pm)
                session.flush()
        except IntegrityError:
            taken = session.exec(select(Postmortem).where(same_ref(ref))).first()
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
    pm.risks = [dict(risk) for risk in doc["risks"]]
    pm.foreseen = [dict(row) for row in doc["foreseen"]]
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
            risk=a["risk"],
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


def _record_revision(session, pm, document, actor, note):
    """The save's trace: a row in the change log (for the search index) and a revision."""
    session.add(Change(postmortem_id=pm.id, ref=pm.ref, op="upsert"))
    revisions.record(session, pm, document, actor, note)


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
