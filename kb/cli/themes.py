"""`kb themes`: rebuild and list the recurring themes."""

import sys

import click
from flask.cli import AppGroup

from kb.cli.session import committing
from kb.db import get_session


@click.group(cls=AppGroup)
def themes():
    """Recurring themes and similar incidents: rebuild them from published postmortems."""


@themes.command("rebuild")
@click.option("--force", is_flag=True, help="Rebuild even when nothing changed since last time.")
def themes_rebuild(force):
    """Recompute themes and similar incidents (does nothing when nothing changed).

    Cheap to run often (from cron or a systemd timer): it compares a fingerprint of the
    published postmortems with the last run's and returns at once when they match.
    """
    from kb.insights import themes as insights_themes

    with (
        committing() as session,
        click.progressbar(length=5, label="Rebuilding themes", file=sys.stderr) as bar,
    ):

        def progress(step, _total, message):
            bar.label = f"Rebuilding themes: {message}"
            bar.update(step - bar.pos)

        report = insights_themes.rebuild(session, force=force, progress=progress)
    if not report.changed:
        click.echo(
            f"Nothing changed since the last rebuild: {report.themes} themes "
            f"from {report.factors} factors."
        )
        return
    click.echo(
        f"{report.themes} themes from {report.factors} factors of {report.postmortems} "
        f"published postmortems in {report.seconds:.1f} s ({report.method})."
    )


@themes.command("list")
def themes_list():
    """List the stored themes, recurring first."""
    from kb.insights import themes as insights_themes

    for view in insights_themes.list_themes(get_session(), None):
        mark = "*" if view.recurring else " "
        click.echo(
            f"{mark} #{view.id:<5} {view.size:>5} factors {view.postmortems:>5} pms  {view.label}"
        )


COMMANDS = (themes,)
