"""Alembic, driven from the app: `kb db upgrade` and the tests use these functions."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from flask import current_app

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url=None):
    """An Alembic configuration for the current app's database (or `url`)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url or current_app.config["DATABASE_URL"])
    return config


def upgrade(revision="head", url=None):
    """Migrate the database up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(revision, url=None):
    """Migrate the database down to `revision`."""
    command.downgrade(alembic_config(url), revision)


def current():
    """The revision the database is at, or None for an empty database."""
    from kb.db import engine

    with engine().connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
