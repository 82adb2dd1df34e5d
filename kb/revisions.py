"""The revision history of postmortems: every save is a revision, numbered by the version it
holds, and an amendment of a published postmortem is a revision with a note.

Every function takes the session first, flushes and never commits; the caller commits once.
"""

from datetime import timedelta

from sqlmodel import select

from kb.models import Revision, utcnow

AUTOSAVE_NOTE = "autosave"
AUTOSAVE_WINDOW = timedelta(minutes=10)


def latest(session, pm):
    """The newest revision of a postmortem, or None."""
    query = select(Revision).where(Revision.postmortem_id == pm.id).order_by(Revision.number.desc())
    return session.exec(query).first()


def record(session, pm, document, actor, note):
    """Add revision number `pm.version`, or fold an autosave into the same author's autosave
    of a moment ago (which then becomes number `pm.version`, keeping when it started).

    Typing in the editor saves every few seconds; one revision per keystroke pause would bury
    the history, so consecutive autosaves by one person within ten minutes make one revision.
    A revision's number is the version it holds, so one number names a state everywhere.
    """
    previous = latest(session, pm)
    now = utcnow()
    if (
        note == AUTOSAVE_NOTE
        and previous is not None
        and previous.note == AUTOSAVE_NOTE
        and previous.author_id == getattr(actor, "id", None)
        and now - previous.created_at <= AUTOSAVE_WINDOW
    ):
        previous.started_at = previous.started_at or previous.created_at
        previous.document = document
        previous.created_at = now
        previous.number = pm.version
        return
    session.add(
        Revision(
            postmortem_id=pm.id,
            # The version it holds: never below an earlier number (the version only grows).
            number=max(pm.version, (previous.number + 1) if previous else 1),
            author_id=getattr(actor, "id", None),
            note=note[:500],
            document=document,
        )
    )


def history(session, pm):
    """The revisions of a postmortem, newest first."""
    query = select(Revision).where(Revision.postmortem_id == pm.id).order_by(Revision.number.desc())
    return session.exec(query).all()


def get(session, pm, number):
    """One revision of a postmortem, or None."""
    query = select(Revision).where(Revision.postmortem_id == pm.id, Revision.number == number)
    return session.exec(query).first()


def amendments(session, pm):
    """The amendments of a published postmortem (revisions with a note), newest first."""
    query = (
        select(Revision)
        .where(Revision.postmortem_id == pm.id, Revision.amendment != "")
        .order_by(Revision.number.desc())
    )
    return session.exec(query).all()
