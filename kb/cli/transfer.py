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
@click.option(
    "--dry-run",
    is_flag=True,
    help="Save nothing: show, per file, which heading went to which field, what was not "
    "understood and what would be refused.",
)
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def import_command(path, dry_run):
    """Import postmortems from .json, .jsonl, Markdown (.md) or HTML (.html) files, or a
    folder of them.

    Idempotent by ref, and for a file without a ref by its content: importing again updates,
    never duplicates. Markdown and HTML land as drafts unless their front matter says
    otherwise. Invalid records are reported with file, line and field; the valid ones are
    imported; the exit status is 1.
    """
    if dry_run:
        _dry_run(list(transfer.read_records(path)))
        return
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


def _dry_run(records):
    """What an import of `records` would make of each, and nothing saved."""
    from kb.document import DocumentError, validate

    refused = 0
    for record in records:
        click.echo(record.where)
        for heading, field in record.mapping:
            click.echo(f"  {heading!r} -> {field}")
        for note in record.notes:
            click.echo(f"  not understood: {note}")
        try:
            if record.error:
                raise DocumentError([record.error])
            doc = validate(record.data)
        except DocumentError as exc:
            refused += 1
            for error in exc.errors:
                click.secho(f"  refused: {error}", fg="red")
            continue
        click.echo(
            f"  title {doc['title']!r}, {len(doc['timeline'])} timeline entries, "
            f"{len(doc['contributing_factors'])} contributing factors, "
            f"{len(doc['action_items'])} action items, status {doc['status']}"
        )
    click.echo(f"Dry run: {len(records) - refused} would be imported, {refused} refused.")
    if refused:
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
