"""`kb actions`: action items that follow their issues in GitHub, GitLab or Jira."""

import sys

import click
from flask.cli import AppGroup

from kb.db import get_session

SHOWN_URLS = 5  # of each failure's issues; the log names them all


@click.group(cls=AppGroup)
def actions():
    """Action items across postmortems."""


@actions.command("sync")
def actions_sync():
    """Give action items linked to a tracker's issues the status the tracker says (for cron).

    Each change is a revision of its postmortem. Exit status 1 when a tracker failed or a
    postmortem could not be saved: those items are left as they were, for the next run.
    """
    from flask import current_app

    from kb.trackers import sync

    session = get_session()
    report = sync.sync(
        session, commit=session.commit, timeout=current_app.config["TRACKER_TIMEOUT"]
    )
    for change in report.changes:
        click.echo(
            f"{change.ref} action {change.position + 1} '{change.title[:60]}': "
            f"{change.before} -> {change.after} ({change.tracker} says {change.said})"
        )
    for failure in report.failures:
        n = len(failure.urls)
        click.secho(
            f"{failure.tracker.web_url} failed: {failure.message} "
            f"({n} issue{'' if n == 1 else 's'} left as they were)",
            fg="red",
            err=True,
        )
        for url in failure.urls[:SHOWN_URLS]:
            click.echo(f"  {url}", err=True)
        if n > SHOWN_URLS:
            click.echo(f"  and {n - SHOWN_URLS} more", err=True)
    for ref, why in report.unsaved:
        click.secho(f"{ref} not saved: {why}", fg="red", err=True)
    click.echo(
        f"Read {report.read} issue{'' if report.read == 1 else 's'}; "
        f"{len(report.changes)} action item{'' if len(report.changes) == 1 else 's'} changed; "
        f"{len(report.failures)} failure{'' if len(report.failures) == 1 else 's'}."
    )
    if not report.ok:
        sys.exit(1)


COMMANDS = (actions,)
