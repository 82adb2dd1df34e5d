"""`kb db`: create and migrate the database."""

import click
from flask.cli import AppGroup


@click.group(cls=AppGroup)
def db():
    """Create and migrate the database."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision):
    """Apply the database migrations."""
    import logging

    from kb import migrations

    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line of result is enough
    migrations.upgrade(revision)
    click.echo(f"Database is at {migrations.current() or 'base'}.")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision):
    """Revert the database to an earlier migration (for example -1)."""
    from kb import migrations

    migrations.downgrade(revision)
    click.echo(f"Database is at {migrations.current() or 'base'}.")


COMMANDS = (db,)
