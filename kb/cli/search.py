"""`kb search`: build, check and inspect the full-text search index."""

import sys

import click
from flask.cli import AppGroup

from kb.cli.session import committing, fail
from kb.db import get_session


@click.group(cls=AppGroup)
def search():
    """Build, check and inspect the full-text search index."""


@search.command("reindex")
@click.option("--procs", default=2, show_default=True, help="Indexing processes.")
def search_reindex(procs):
    """Rebuild the search index from the database (searches keep working meanwhile)."""
    from flask import current_app
    from sqlmodel import func, select

    from kb.models import Postmortem
    from kb.search.index import IndexUnavailable
    from kb.search.service import service_for

    search = service_for(current_app)
    with committing(IndexUnavailable) as session:
        total = session.exec(select(func.count()).select_from(Postmortem)).one()
        with click.progressbar(
            length=total, label="Indexing", file=sys.stderr, show_pos=True, show_eta=True
        ) as bar:
            count = search.rebuild(session, progress=bar.update, procs=procs)
        search.report_position(session)
    click.echo(f"Indexed {count} postmortems.")


@search.command("check")
def search_check():
    """Compare the index with the database; exit 1 on any difference."""
    from flask import current_app

    from kb.search.service import service_for

    report = service_for(current_app).check(get_session())
    if not report.available:
        fail(f"the search index is not usable ({report.lag} changes pending): `kb search reindex`")
    click.echo(
        f"{report.indexed} postmortems indexed, {report.in_database} in the database, "
        f"{report.lag} changes not applied yet."
    )
    differences = (("missing", report.missing), ("extra", report.extra), ("stale", report.stale))
    for label, refs in differences:
        if refs:
            shown = ", ".join(refs[:20]) + (" …" if len(refs) > 20 else "")
            click.secho(f"{len(refs)} {label}: {shown}", fg="red", err=True)
    if report.drift:
        fail("the index differs from the database (see above); `kb search reindex` rebuilds it")
    click.echo("The index matches the database.")


@search.command("status")
def search_status():
    """Show the index: documents, last change applied, changes pending, size."""
    from flask import current_app

    from kb.search.service import service_for

    info = service_for(current_app).status(get_session())
    keys = ("path", "available", "documents", "segments", "upto", "gaps", "latest_change", "lag")
    keys += ("pruned_upto", "follower", "follows")
    for key in keys:
        if key in info:
            click.echo(f"{key:<14} {info[key]}")
    click.echo(f"{'size':<14} {info['size_bytes'] / 1_048_576:.1f} MiB")
    if info.get("problem"):
        click.secho(info["problem"], fg="red", err=True)


COMMANDS = (search,)
