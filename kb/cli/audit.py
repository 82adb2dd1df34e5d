"""`kb audit`: the audit log."""

import click
from flask.cli import with_appcontext

from kb import audit
from kb.db import get_session


@click.command("audit")
@with_appcontext
@click.option("--ref", help="Only events about this postmortem.")
@click.option("--action", help="Only this action (create, edit, status, view-restricted, ...).")
@click.option("--limit", default=50, show_default=True)
def audit_command(ref, action, limit):
    """Show the audit log, newest first."""
    for event in audit.recent(get_session(), limit=limit, ref=ref, action=action):
        click.echo(
            f"{event.at:%Y-%m-%d %H:%M:%S}  {event.actor_email:<32} {event.action:<16} "
            f"{event.ref:<14} {event.detail}"
        )


COMMANDS = (audit_command,)
