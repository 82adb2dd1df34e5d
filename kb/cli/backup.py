"""`kb backup` and `kb restore` (kb/ops/backup.py): a consistent copy, and back again."""

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from kb.cli.session import fail
from kb.db import get_session


@click.command("backup")
@with_appcontext
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
def backup_command(dest):
    """Write a consistent backup into the new folder DEST, while the app keeps serving.

    SQLite: a copy by the online backup API; PostgreSQL: pg_dump (when installed). Both with
    every postmortem in the document format (documents.jsonl). See docs/operations.md.
    """
    from sqlmodel import func, select

    from kb.models import Postmortem
    from kb.ops import backup

    session = get_session()
    about = session.exec(select(func.count()).select_from(Postmortem)).one()
    session.rollback()  # the backup takes its own snapshot
    try:
        with click.progressbar(length=about, label="Exporting", file=sys.stderr) as bar:
            manifest = backup.backup(session, dest, progress=lambda _pm: bar.update(1))
    except backup.BackupError as exc:
        fail(str(exc))
    for warning in manifest.warnings:
        click.secho(f"Warning: {warning}", fg="yellow", err=True)
    what = manifest.snapshot or "no database snapshot"
    click.echo(
        f"Backed up {manifest.postmortems} postmortems ({manifest.database}, schema "
        f"{manifest.revision}, {what} + {manifest.documents}) to {dest} "
        f"in {manifest.seconds:.1f} s."
    )


@click.command("restore")
@with_appcontext
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--from-documents",
    is_flag=True,
    help="Rebuild from documents.jsonl only (postmortems, not accounts), even when a "
    "database snapshot of the same kind is there.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore_command(src, from_documents, yes):
    """Replace this database with the backup in SRC, migrate it, and rebuild the search index.

    Stop the app servers first. Other servers' indexes notice the restored change log and
    rebuild themselves; `kb search check` on each proves it.
    """
    from flask import current_app

    from kb.db import engine
    from kb.ops import backup
    from kb.search.index import IndexUnavailable
    from kb.search.service import service_for

    url = current_app.config["DATABASE_URL"]
    try:
        manifest = backup.read_manifest(src)
        method = backup.restore_method(manifest, src, url, from_documents)
    except backup.BackupError as exc:
        fail(str(exc))
    shown = engine().url.render_as_string(hide_password=True)
    click.echo(
        f"Backup of {manifest.created_at}: {manifest.postmortems} postmortems from "
        f"{manifest.database}, restored by {method}.",
        err=True,
    )
    if method == "documents":
        click.echo("Accounts are not in the documents: recreate them with `kb users`.", err=True)
    if not yes:
        click.confirm(f"This replaces everything in {shown}. Go on?", abort=True, err=True)
    engine().dispose()  # no pooled connection may hold the old database open
    try:
        with click.progressbar(
            length=manifest.postmortems, label="Importing", file=sys.stderr
        ) as bar:
            report = backup.restore(
                src, url, from_documents=from_documents, progress=lambda _r: bar.update(1)
            )
    except backup.BackupError as exc:
        fail(str(exc))
    engine().dispose()
    for problem in report.problems:
        click.secho(problem, fg="red", err=True)
    session = get_session()
    try:
        indexed = service_for(current_app).rebuild(session)
    except IndexUnavailable as exc:
        fail(f"the database is restored, but the search index was not rebuilt: {exc}")
    click.echo(
        f"Restored {report.postmortems} postmortems by {report.method} (the backup holds "
        f"{report.expected}); search index rebuilt ({indexed} postmortems)."
    )
    if report.problems:
        sys.exit(1)


COMMANDS = (backup_command, restore_command)
