"""Fixtures: app, client, runner, session, and factories for users and postmortems.

Every database test runs on SQLite, and also on PostgreSQL when KB_TEST_DATABASE_URL is set.
"""

import os
import shutil

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlmodel import Session, SQLModel

from kb import accounts, create_app, migrations, postmortems
from kb.config import normalise_database_url
from kb.document import validate

PG_URL = os.environ.get("KB_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite database, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrations.upgrade("head", url=f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url():
    """The test PostgreSQL database, emptied and migrated from nothing once per run."""
    if not PG_URL:
        pytest.skip("KB_TEST_DATABASE_URL is not set: PostgreSQL runs only where it is")
    url = normalise_database_url(PG_URL)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    migrations.upgrade("head", url=url)
    return url


def _truncate_postgres(url):
    engine = create_engine(url)
    names = [t.name for t in SQLModel.metadata.sorted_tables]
    with engine.begin() as connection:
        existing = set(inspect(connection).get_table_names())
        quoted = ", ".join(f'"{n}"' for n in names if n in existing)
        connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """A fresh, migrated database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "hindsight.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            "BASE_URL": "http://hindsight.test",
        }
    )
    yield app
    app.extensions["kb_engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    """A database session of the test's own, outside any request.

    It is not the request's session: holding an app context open for the whole test would
    make every request of the test client share one `g`.
    """
    with Session(app.extensions["kb_engine"], expire_on_commit=False) as db_session:
        yield db_session


@pytest.fixture
def make_user(session):
    """Create a user: make_user("a@x.example", role="author", teams=["payments"])."""

    def make(email, role="reader", teams=(), password=PASSWORD, active=True):
        user = accounts.create_user(session, email, role, password=password, teams=teams)
        user.active = active
        session.commit()
        return user

    return make


def system_search(app):
    """Bring the app's index up to date with the change log, then run(text, **kwargs): a
    search as the system (which sees everything), each in an app context of its own."""
    from kb.search import query as search_query
    from kb.search.index import for_app
    from kb.search.service import service_for

    with app.app_context():
        service_for(app).syncer.run_once()

    def run(text="", **kwargs):
        with app.app_context():
            return search_query.search(for_app(app), None, text, **kwargs)

    return run


def document(**fields):
    """A small valid document, with fields overridden."""
    doc = {
        "title": "Checkout errors after a configuration push",
        "kind": "incident",
        "status": "published",
        "severity": "SEV2",
        "teams": ["payments"],
        "services": ["checkout-api"],
        "trigger": "config-change",
        "started_at": "2026-03-02T09:14:00Z",
        "detected_at": "2026-03-02T09:31:00Z",
        "mitigated_at": "2026-03-02T10:05:00Z",
        "resolved_at": "2026-03-02T11:40:00Z",
        "published_at": "2026-03-09T16:00:00Z",
        "summary": "Checkout failed for 25 minutes after a configuration push.",
        "contributing_factors": [
            {"text": "The push reached every region at once.", "category": "change-management"}
        ],
        "action_items": [
            {"title": "Stage configuration pushes", "owner": "platform", "due": "2026-04-01"}
        ],
    }
    doc.update(fields)
    return doc


@pytest.fixture
def make_postmortem(session):
    """Save a postmortem from document fields: make_postmortem(title=..., visibility=...)."""

    def make(**fields):
        pm, _ = postmortems.save_document(session, validate(document(**fields)))
        session.commit()
        return pm

    return make


@pytest.fixture
def login(client):
    """Sign the test client in as a user."""

    def sign_in(user, password=PASSWORD):
        with client.session_transaction() as s:
            s.clear()
        client.get("/sign-in")
        token = _csrf_token(client)
        response = client.post(
            "/sign-in", data={"email": user.email, "password": password, "csrf_token": token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return sign_in


def _csrf_token(client):
    response = client.get("/sign-in")
    if response.status_code == 302:  # signed in already: every page carries the token
        response = client.get("/")
    body = response.get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    start = body.index(marker) + len(marker)
    return body[start : body.index('"', start)]


@pytest.fixture
def csrf_token(client):
    """The CSRF token of the client's current session."""
    return lambda: _csrf_token(client)
