"""Migrations run from an empty database to the newest, back down to nothing, and up again."""

import warnings

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

from kb import migrations
from kb.config import normalise_database_url
from tests.conftest import PG_URL


def _tables(url):
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _round_trip(url):
    migrations.upgrade("head", url=url)
    assert _tables(url) == set(SQLModel.metadata.tables)
    migrations.downgrade("base", url=url)
    assert _tables(url) == set()
    migrations.upgrade("head", url=url)
    assert _tables(url) == set(SQLModel.metadata.tables)


def test_sqlite_up_down_up(tmp_path):
    _round_trip(f"sqlite:///{tmp_path / 'm.db'}")


def test_postgresql_up_down_up():
    if not PG_URL:
        pytest.skip("KB_TEST_DATABASE_URL is not set: PostgreSQL runs only where it is")
    admin = create_engine(normalise_database_url(PG_URL), isolation_level="AUTOCOMMIT")
    name = "kb_migration_check"
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        _round_trip(url)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def test_models_and_migrations_agree(tmp_path):
    """Autogenerate finds nothing to add: every model change has its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrations.upgrade("head", url=url)
    engine = create_engine(url)
    with engine.connect() as connection, warnings.catch_warnings():
        # Expression indexes (the refs' lower(ref)) cannot be compared; the migration makes it.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert diff == []
