"""Two sessions interleaved step by step, and every save path at the same moment: the
database, not the reading session, decides which of two saves on one version wins; refs are
never handed out twice."""

import threading
import time

import pytest
from sqlalchemy import text
from sqlmodel import Session, func, select

from kb import accounts, postmortems, workflow
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
    """Read a postmortem as a request does, labels and all."""
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
        workflow.transition(b, pm_b, "unpublish", actor, comment="A mistake in it.")
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


def _signed_in(app, user):
    """A test client of its own, signed in as `user`."""
    from tests.conftest import PASSWORD, _csrf_token

    client = app.test_client()
    token = _csrf_token(client)
    answer = client.post(
        "/sign-in", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 302
    return client


def test_every_save_path_at_the_same_moment_on_one_version_one_wins(
    app, make_user, make_postmortem, session
):
    """The editor's save, autosave, the API's PUT, restoring a revision and a transition,
    all on version 2 at once: one of them makes version 3, the others change nothing."""
    from tests.conftest import _csrf_token
    from tests.test_editor import form_of

    author = make_user(AUTHOR, role="author")
    make_user("rev@x.example", role="author")
    _row, token = accounts.create_token(session, AUTHOR, "race")
    session.commit()
    ref = make_postmortem(ref="INC-2026-001", status="draft", authors=[AUTHOR]).ref
    first = _signed_in(app, author)
    form = form_of(first, ref)
    assert (
        first.post(f"/postmortems/{ref}/edit", data={**form, "summary": "Second."}).status_code
        == 302
    )
    form = form_of(first, ref)
    assert form["version"] == "2"
    api_doc = first.get(
        f"/api/v1/postmortems/{ref}", headers={"Authorization": f"Bearer {token}"}
    ).json

    clients = [_signed_in(app, author) for _ in range(5)]
    tokens = [_csrf_token(c) for c in clients]
    json_only = {"Accept": "application/json"}
    calls = {
        "edited": lambda c, t: c.post(
            f"/postmortems/{ref}/edit", data={**form, "csrf_token": t, "summary": "From the form."}
        ),
        "autosave": lambda c, t: c.post(
            f"/postmortems/{ref}/autosave",
            data={**form, "csrf_token": t, "summary": "From autosave."},
            headers=json_only,
        ),
        "": lambda c, _t: c.put(
            f"/api/v1/postmortems/{ref}",
            json={**api_doc, "summary": "From the API."},
            headers={"Authorization": f"Bearer {token}"},
        ),
        "restored revision 1": lambda c, t: c.post(
            f"/postmortems/{ref}/revisions/1/restore", data={"version": "2", "csrf_token": t}
        ),
        "review requested from rev@x.example": lambda c, t: c.post(
            f"/postmortems/{ref}/transition",
            data={
                "action": "request-review",
                "reviewers": "rev@x.example",
                "version": "2",
                "csrf_token": t,
            },
        ),
    }
    gate = threading.Barrier(len(calls))
    answers = {}

    def run(note, call, client, csrf):
        gate.wait()
        try:
            answers[note] = call(client, csrf).status_code
        except Exception as exc:  # noqa: BLE001 (the test client raises what would be a 500)
            answers[note] = repr(exc)

    threads = [
        threading.Thread(target=run, args=(note, call, client, csrf))
        for (note, call), client, csrf in zip(calls.items(), clients, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    codes = answers
    assert set(codes.values()) <= {200, 302, 409}, codes
    pm, labels, numbers = _state(session, ref)
    assert pm.version == 3 and numbers == [1, 2, 3], codes
    winner = session.exec(
        select(Revision.note).where(Revision.postmortem_id == pm.id, Revision.number == 3)
    ).one()
    for note in ("edited", "autosave", ""):
        assert codes[note] == (409 if note != winner else {"edited": 302}.get(note, 200)), codes
    assert [v for f, v in labels if f == "authors"] == [AUTHOR]
    expected = {
        "edited": ("From the form.", "draft"),
        "autosave": ("From autosave.", "draft"),
        "": ("From the API.", "draft"),
        "restored revision 1": (document()["summary"], "draft"),
        "review requested from rev@x.example": ("Second.", "in-review"),
    }
    assert (pm.summary, pm.status) == expected[winner]
