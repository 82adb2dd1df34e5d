"""The database engine and one session per request or CLI command."""

import logging
import threading
import weakref

from flask import current_app, g
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, create_engine


def make_engine(url):
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


log = logging.getLogger(__name__)


def begin_write(session):
    """Start the session's transaction as a writing one now, if it has not started yet.

    On SQLite the driver opens a transaction only at the first INSERT, UPDATE or DELETE: what
    is read before it is read outside any transaction, and a SAVEPOINT taken before it would
    become the transaction itself (releasing it would commit). BEGIN IMMEDIATE takes the
    write lock first (waiting for another writer's commit), so everything the save reads is
    current and stays so until commit. PostgreSQL needs nothing here.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def init_app(app):
    """Attach an engine and a session factory to the app; close the session at teardown."""
    bound = app.extensions["kb_engine"] = make_engine(app.config["DATABASE_URL"])
    # The app's own factory: listeners registered on it (kb.search.service) hear only the
    # sessions of this app.
    app.extensions["kb_session_factory"] = sessionmaker(
        bound, class_=Session, expire_on_commit=False
    )
    app.teardown_appcontext(close_session)


def engine():
    """The current app's engine."""
    return current_app.extensions["kb_engine"]


def session_factory(app):
    """The app's session factory (sessions of this app's engine, not expired on commit)."""
    return app.extensions["kb_session_factory"]


def get_session():
    """The session of this request or command, opened on first use."""
    if "db_session" not in g:
        g.db_session = session_factory(current_app)()
    return g.db_session


def close_session(_exc=None):
    """Close the session at the end of the app context; roll back what was not committed."""
    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        session.close()
    except OperationalError:
        # The database went away after the response was made (a restart): rolling back this
        # request's finished transaction failed, so nothing is lost. The response stands;
        # the pool has dropped the broken connection.
        log.warning("the database connection was lost while closing a session", exc_info=True)
        session.invalidate()


def per_engine(factory):
    """A function giving one object per engine (database) in this process, made by factory()
    on first use and forgotten with the engine, for in-memory derived data; its `clear()`
    forgets them all (as a new process would start)."""
    objects = weakref.WeakKeyDictionary()
    guard = threading.Lock()

    def get(engine):
        with guard:
            found = objects.get(engine)
            if found is None:
                found = objects[engine] = factory()
            return found

    get.clear = objects.clear
    return get
