"""Search as a service of the app: chosen at creation (Whoosh following the change log,
Whoosh read-only with KB_SEARCH_SYNC=off, or the null service), commit listeners on the
app's own session factory, and segment names that a seeded `random` cannot repeat.
Real SQLite/PostgreSQL, real Whoosh index on disk."""

import random

from sqlmodel import Session

from kb import create_app, db, postmortems
from kb.document import validate
from kb.search import applying
from kb.search.index import for_app
from kb.search.service import NullSearch, WhooshSearch, service_for
from tests.conftest import PASSWORD, _csrf_token, document


def _app(database_url, tmp_path, **config):
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            **config,
        }
    )


def _save_in_request(app, **fields):
    with app.test_request_context():
        session = db.get_session()
        postmortems.save_document(session, validate(document(**fields)))
        session.commit()


def _refs(app, text):
    with app.app_context():
        return [h.ref for h in service_for(app).search(None, text).hits]


def _indexed_refs(app):
    with app.app_context(), for_app(app).searcher() as searcher:
        return sorted(s["meta"]["ref"] for _n, s in searcher.reader().iter_docs() if "meta" in s)


def test_the_default_service_follows_the_change_log(app):
    service = service_for(app)
    assert isinstance(service, WhooshSearch) and service.follows
    _save_in_request(app, ref="INC-2026-001", title="Gateway timeouts")
    # Applied by the commit listener, before any search asks for it.
    assert _indexed_refs(app) == ["INC-2026-001"]
    assert _refs(app, "gateway") == ["INC-2026-001"]


def test_listeners_hear_only_their_own_apps_sessions(database_url, tmp_path, app):
    other = _app(database_url, tmp_path / "other")
    try:
        _save_in_request(app, ref="INC-2026-001", title="Gateway timeouts")
        assert _indexed_refs(app) == ["INC-2026-001"]
        # The other app shares the database but not the factory: its index was not written.
        assert not for_app(other).exists()
        # A plain session (not from the app's factory) does not notify either.
        with app.app_context(), Session(app.extensions["kb_engine"]) as session:
            postmortems.save_document(
                session, validate(document(ref="INC-2026-002", title="Resolver"))
            )
            session.commit()
        assert _indexed_refs(app) == ["INC-2026-001"]
        assert _refs(app, "resolver") == ["INC-2026-002"]  # a search catches up first
    finally:
        other.extensions["kb_engine"].dispose()


def test_sync_off_serves_the_existing_index_and_never_writes_it(database_url, tmp_path, app):
    _save_in_request(app, ref="INC-2026-001", title="Gateway timeouts")
    assert _indexed_refs(app) == ["INC-2026-001"]
    off = _app(database_url, tmp_path, SEARCH_SYNC="off")  # the same instance, index folder
    try:
        service = service_for(off)
        assert isinstance(service, WhooshSearch) and not service.follows
        _save_in_request(off, ref="INC-2026-002", title="Gateway resolver")
        assert _refs(off, "gateway") == ["INC-2026-001"]  # the index as it was
        assert _indexed_refs(off) == ["INC-2026-001"]
        with off.app_context(), Session(off.extensions["kb_engine"]) as session:
            assert service.lag(session) == 1
            assert service.status(session)["follows"] is False
        client = off.test_client()
        assert client.get("/readyz").get_json()["checks"]["search_index_lag"] == 1
    finally:
        off.extensions["kb_engine"].dispose()
    # An operator's explicit reindex still writes it.
    operator = _app(database_url, tmp_path, SEARCH_SYNC="off")
    try:
        out = operator.test_cli_runner().invoke(args=["search", "reindex", "--procs", "1"])
        assert out.exit_code == 0, out.output
    finally:
        operator.extensions["kb_engine"].dispose()
    assert _indexed_refs(app) == ["INC-2026-001", "INC-2026-002"]


def test_sync_off_without_an_index_says_so_on_the_search_page(database_url, tmp_path, make_user):
    reader = make_user("reader@x.example")
    off = _app(database_url, tmp_path / "off", SEARCH_SYNC="off")
    try:
        _save_in_request(off, ref="INC-2026-001", title="Gateway timeouts")
        client = off.test_client()
        token = _csrf_token(client)
        signed_in = client.post(
            "/sign-in", data={"email": reader.email, "password": PASSWORD, "csrf_token": token}
        )
        assert signed_in.status_code == 302
        page = client.get("/search?q=gateway")
        assert page.status_code == 200
        assert "does not build or update one" in page.get_data(as_text=True)
        assert not for_app(off).exists()
    finally:
        off.extensions["kb_engine"].dispose()


def test_the_null_service_finds_nothing_and_writes_nothing(database_url, tmp_path):
    app = _app(database_url, tmp_path, SEARCH_BACKEND="null")
    try:
        service = service_for(app)
        assert isinstance(service, NullSearch) and not service.follows
        _save_in_request(app, ref="INC-2026-001", title="Gateway timeouts")
        result = service.search(None, "gateway")
        assert result.total == 0 and result.hits == []
        with Session(app.extensions["kb_engine"]) as session:
            assert service.lag(session) is None
            assert service.rebuild(session) == 0
            assert service.check(session).available is False
        assert not for_app(app).exists()
    finally:
        app.extensions["kb_engine"].dispose()


def test_a_seeded_random_does_not_repeat_segment_names(app, make_postmortem):
    """Whoosh names segments with the global `random`: two commits after the same seed
    must still get two segments (the second commit used to fail)."""
    make_postmortem(ref="INC-2026-001", title="Gateway timeouts")
    with app.app_context(), Session(app.extensions["kb_engine"]) as session:
        random.seed(7)
        applying.apply_pending(session, for_app(app))
        make = validate(document(ref="INC-2026-002", title="Resolver errors"))
        postmortems.save_document(session, make)
        session.commit()
        random.seed(7)
        report = applying.apply_pending(session, for_app(app))
        assert report.applied == 1
    assert _indexed_refs(app) == ["INC-2026-001", "INC-2026-002"]
    assert _refs(app, "resolver") == ["INC-2026-002"]
