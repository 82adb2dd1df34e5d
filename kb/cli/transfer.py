"""`kb import` and `kb export`: postmortems in the document format, in and out."""

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from kb import accounts, transfer
from kb.cli.session import committing, fail
from kb.db import get_session


@click.command("import")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def import_command(path):
    """Import postmortems from a .json or .jsonl file, or a folder of them.

    Idempotent by ref: importing again updates, never duplicates. Invalid records are
    reported with file, line and field; the valid ones are imported; the exit status is 1.
    """
    with committing() as session:
        records = list(transfer.read_records(path))
        with click.progressbar(
            length=len(records), label="Importing", file=sys.stderr, show_pos=True
        ) as bar:
            report = transfer.import_records(session, records, progress=lambda _r: bar.update(1))
    click.echo(
        f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{len(records) - report.created - report.updated - report.unchanged} invalid."
    )
    if not report.ok:
        for problem in report.problems:
            click.secho(problem, fg="red", err=True)
        sys.exit(1)


@click.command("export")
@with_appcontext
@click.option(
    "--format", "fmt", type=click.Choice(["json", "markdown"]), default="json", show_default=True
)
@click.option("--as-user", "as_user", help="Export only what this user may see.")
@click.argument("dest", type=click.Path(path_type=Path))
def export_command(fmt, as_user, dest):
    """Export postmortems to DEST (a folder, or a .jsonl file for --format json)."""
    session = get_session()
    user = None
    if as_user:
        user = accounts.get_user(session, as_user)
        if user is None:
            fail(f"no user {as_user}")
    count = transfer.export_documents(session, dest, fmt, user=user)
    click.echo(f"Exported {count} postmortems to {dest}.")


COMMANDS = (import_command, export_command)
