"""`kb reviews`: send the review e-mail the outbox still holds."""

import sys

import click
from flask.cli import AppGroup

from kb.cli.session import fail
from kb.db import get_session


@click.group(cls=AppGroup)
def reviews():
    """Review e-mail: send what the outbox still holds."""


@reviews.command("send-mail")
def reviews_send_mail():
    """Send review e-mail still waiting in the outbox (failed sends are retried; for cron).

    Exit status 1 when some could not be sent (they stay in the outbox for the next run).
    """
    from flask import current_app

    from kb import reviews as review_mail
    from kb.digest import mail

    config = current_app.config
    try:
        backend = mail.backend_from_config(config)
    except ValueError as exc:
        fail(str(exc))
    session = get_session()
    # Each message is committed as it is sent, so a failure part-way loses no record.
    result = review_mail.send_due(
        session, backend=backend, commit=session.commit, mail_from=config["MAIL_FROM"]
    )
    click.echo(
        f"Review e-mail via {backend.describe()}: {result.sent} sent, {result.failed} failed, "
        f"{result.skipped} no longer wanted."
    )
    if result.failed:
        sys.exit(1)


COMMANDS = (reviews,)
