"""Two sessions interleaved step by step: the database, not the reading session, decides
which of two saves on one version wins; refs are never handed out twice."""

import threading
import time

import pytest
from sqlalchemy import text
from sqlmodel import Session, func, select

from kb import postmortems
from kb.document import to_document, validate
from kb.models import Label, Postmortem, Revision
from tests.conftest import document

AUTHOR = "ana@x.example"


@pytest.fixture
def sessions(app):
    """Two sessions of their own, like two requests served at the same time."""
    engine = app.extensions["kb_engine"]
    with (
        Session(engine, expire_on_commit=False) as first,
        Session(engine, expire_on_commit=False) as second,
    ):
        yield first, second


@pytest.fixture
def stored(make_postmortem):
    return make_postmortem(ref="INC-2026-001", authors=[AUTHOR], tags=["checkout"])


def _load(session, ref):
    """Read a postmortem as a request does (labels and all), leaving the read transaction."""
    pm = session.exec(select(Postmortem).where(Postmortem.ref == ref)).one()
    return pm, to_document(pm)


def _edited(doc, **fields):
    return validate({**doc, **fields})


def _state(session, ref):
    session.rollback()
    pm = session.exec(select(Postmortem).where(Postmortem.ref == ref)).one()
    session.refresh(pm)
    labels = session.exec(
        select(Label.field, Label.value).where(Label.postmortem_id == pm.id)
    ).all()
    numbers = session.exec(
        select(Revision.number).where(Revision.postmortem_id == pm.id).order_by(Revision.number)
    ).all()
    return pm, sorted(labels), list(numbers)


def test_the_second_of_two_saves_on_one_version_is_a_conflict(stored, sessions, session):
    a, b = sessions
    pm_a, doc_a = _load(a, stored.ref)
    pm_b, doc_b = _load(b, stored.ref)
    assert pm_a.version == pm_b.version == 1

    postmortems.save_document(a, _edited(doc_a, summary="A's summary."), base_version=1)
    a.commit()
    with pytest.raises(postmortems.Conflict, match="version 1, the current one is version 2"):
        postmortems.save_document(b, _edited(doc_b, summary="B's summary."), base_version=1)
    b.rollback()

    pm, labels, numbers = _state(session, stored.ref)
    assert (pm.version, pm.summary) == (2, "A's summary.")
    assert labels == sorted(
        [("authors", AUTHOR), ("services", "checkout-api"), ("tags", "checkout")]
        + [("teams", "payments")]
    )
    assert numbers == [1, 2]


def test_a_save_without_a_base_version_is_conditional_on_the_version_it_read(
    stored, sessions, session
):
    """An import or an action-item update builds its document from what it read: a save
    committed in between is never overwritten silently."""
    a, b = sessions
    _pm_a, doc_a = _load(a, stored.ref)
    _pm_b, doc_b = _load(b, stored.ref)

    postmortems.save_document(a, _edited(doc_a, tags=["checkout", "from-a"]))
    a.commit()
    with pytest.raises(postmortems.Conflict):
        postmortems.save_document(b, _edited(doc_b, tags=["checkout", "from-b"]))
    b.rollback()

    pm, labels, numbers = _state(session, stored.ref)
    assert pm.version == 2
    assert [v for f, v in labels if f == "tags"] == ["checkout", "from-a"]
    assert numbers == [1, 2]


def test_two_saves_of_the_same_content_on_one_version_are_no_conflict(stored, sessions, session):
    a, b = sessions
    _pm_a, doc_a = _load(a, stored.ref)
    _pm_b, doc_b = _load(b, stored.ref)

    postmortems.save_document(a, _edited(doc_a, summary="Both wrote this."), base_version=1)
    a.commit()
    pm, changed = postmortems.save_document(
        b, _edited(doc_b, summary="Both wrote this."), base_version=1
    )
    b.commit()
    assert changed is False
    pm, _labels, numbers = _state(session, stored.ref)
    assert (pm.version, numbers) == (2, [1, 2])


def test_a_transition_on_a_stale_read_is_a_conflict(stored, sessions, session, make_user):
    """Transitions save through the same check: a status change read before someone else's
    save does not undo that save."""
    admin = make_user("root@x.example", role="admin")
    a, b = sessions
    pm_a, doc_a = _load(a, stored.ref)
    pm_b, _doc_b = _load(b, stored.ref)
    postmortems.save_document(a, _edited(doc_a, summary="Corrected."), base_version=1)
    a.commit()
    actor = b.get(type(admin), admin.id)
    with pytest.raises(postmortems.Conflict):
        postmortems.transition(b, pm_b, "unpublish", actor, comment="A mistake in it.")
    b.rollback()
    pm, _labels, _numbers = _state(session, stored.ref)
    assert (pm.status, pm.summary, pm.version) == ("published", "Corrected.", 2)


class Blocked(threading.Thread):
    """Runs `work(session)` in a thread (the session is handed over, not shared) and
    commits; `wait_blocked` returns once it waits for the other transaction's lock."""

    def __init__(self, session, work):
        super().__init__(daemon=True)
        self.session, self.work = session, work
        self.result = self.error = None
        self.wrote = threading.Event()
        if session.get_bind().dialect.name == "sqlite":
            raw = session.connection().connection.dbapi_connection
            raw.set_trace_callback(self._saw)

    def run(self):
        try:
            self.result = self.work(self.session)
            self.session.commit()
        except Exception as exc:  # noqa: BLE001 (the test looks at it)
            self.error = exc
            self.session.rollback()

    def _saw(self, statement):
        if statement.lstrip().upper().startswith(("BEGIN", "INSERT", "UPDATE", "DELETE")):
            self.wrote.set()

    def wait_blocked(self, engine):
        """Until this thread waits for the other transaction's lock."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.is_alive(), f"it did not wait: {self.error or self.result}"
            if engine.dialect.name == "postgresql":
                with engine.connect() as connection:
                    waiting = connection.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                            "'Lock' AND datname = current_database()"
                        )
                    ).scalar()
                if waiting:
                    return
            elif self.wrote.wait(0.05):
                # SQLite shows no waiting; the statement that waits has started, give it a
                # moment to reach the lock (if it has not, it runs after the commit: the
                # outcome asked for below is the same).
                time.sleep(0.3)
                return
            time.sleep(0.02)
        raise AssertionError("the second transaction never waited")


def test_a_save_waiting_for_another_one_on_the_same_version_gets_a_conflict(
    app, stored, sessions, session
):
    engine = app.extensions["kb_engine"]
    a, b = sessions
    _pm_a, doc_a = _load(a, stored.ref)
    _pm_b, doc_b = _load(b, stored.ref)
    postmortems.save_document(a, _edited(doc_a, authors=[AUTHOR, "ben@x.example"]))
    a.flush()  # A holds its claim on version 1, uncommitted

    second = Blocked(
        b,
        lambda s: postmortems.save_document(
            s, _edited(doc_b, authors=[AUTHOR, "cy@x.example"]), base_version=1
        ),
    )
    second.start()
    second.wait_blocked(engine)
    a.commit()
    second.join(60)
    assert isinstance(second.error, postmortems.Conflict), second.error or second.result

    pm, labels, numbers = _state(session, stored.ref)
    assert pm.version == 2
    assert [v for f, v in labels if f == "authors"] == sorted([AUTHOR, "ben@x.example"])
    assert numbers == [1, 2]


def test_a_ref_taken_while_another_create_waits_is_not_handed_out_twice(app, sessions, session):
    engine = app.extensions["kb_engine"]
    a, b = sessions
    first, _ = postmortems.save_document(a, validate(document(title="First of the day")))
    a.flush()  # A has taken the next number and not committed yet

    second = Blocked(
        b,
        lambda s: (
            postmortems.save_document(s, validate(document(title="Second of the day")))[0].ref
        ),
    )
    second.start()
    second.wait_blocked(engine)
    a.commit()
    second.join(60)
    assert second.error is None, repr(second.error)
    assert (first.ref, second.result) == ("INC-2026-001", "INC-2026-002")
    session.rollback()
    assert session.exec(select(func.count()).select_from(Postmortem)).one() == 2


def test_a_named_ref_created_twice_at_once_is_a_conflict_not_an_error(app, sessions, session):
    engine = app.extensions["kb_engine"]
    a, b = sessions
    postmortems.save_document(a, validate(document(ref="INC-2026-040", title="From A")))
    a.flush()
    second = Blocked(
        b,
        lambda s: postmortems.save_document(
            s, validate(document(ref="INC-2026-040", title="From B"))
        ),
    )
    second.start()
    second.wait_blocked(engine)
    a.commit()
    second.join(60)
    session.rollback()
    titles = session.exec(select(Postmortem.title)).all()
    if engine.dialect.name == "sqlite":
        # SQLite lets one writer in at a time: the second found the first and updated it
        # on top of the version it read, like an import run twice.
        assert second.error is None and titles == ["From B"]
    else:
        assert isinstance(second.error, postmortems.Conflict), second.error
        assert "created by someone else at the same time" in str(second.error)
        assert titles == ["From A"]
