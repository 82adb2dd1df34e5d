"""`kb trackers`: the issue trackers (GitHub, GitLab, Jira) action items follow."""

import click
from flask.cli import AppGroup

from kb.cli.session import committing
from kb.db import get_session
from kb.models import MAX_INT
from kb.trackers import kinds, setup


@click.group(cls=AppGroup)
def trackers():
    """Issue trackers whose issues action items link to (kb actions sync reads them)."""


@trackers.command("add")
@click.argument("kind", type=click.Choice(kinds.KINDS))
@click.argument("web_url")
@click.option("--api-url", required=True, help="The REST API's base address.")
@click.option(
    "--token-env",
    metavar="VAR",
    help="The NAME of the environment variable holding the API token (the token itself is "
    "never stored).",
)
@click.option(
    "--project",
    help="Where 'Create in tracker' opens issues: owner/repo (GitHub), group/project "
    "(GitLab) or a project key (Jira).",
)
def trackers_add(kind, web_url, api_url, token_env, project):
    """Follow the issues whose links start with WEB_URL, through the API at --api-url."""
    with committing(setup.TrackerRefused) as session:
        tracker = setup.add(
            session, kind, web_url, api_url=api_url, token_env=token_env, project=project
        )
    click.echo(f"Added tracker {tracker.id}: {kinds.label(tracker)} {tracker.web_url}.")


@trackers.command("list")
def trackers_list():
    """List the trackers (the token's variable by name; never the token)."""
    rows = setup.listing(get_session())
    if not rows:
        click.echo("No trackers: add one with kb trackers add.")
    for t in rows:
        token = f"token from ${t.token_env}" if t.token_env else "no token"
        project = f"project {t.project}" if t.project else "no project"
        click.echo(f"{t.id:>3}  {t.kind:<6} {t.web_url}  api {t.api_url}  {token}  {project}")


@trackers.command("remove")
@click.argument("tracker_id", metavar="ID", type=click.IntRange(1, MAX_INT))
def trackers_remove(tracker_id):
    """Stop following a tracker (its items keep their links and status)."""
    with committing(setup.TrackerRefused) as session:
        tracker = setup.remove(session, tracker_id)
    click.echo(f"Removed tracker {tracker_id} ({tracker.web_url}).")


COMMANDS = (trackers,)
