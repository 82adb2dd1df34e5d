"""The `kb` command: Flask's CLI plus one group per domain (db, users, tokens, ...).

Click functions parse arguments, call one domain function, commit once and print; each
command group lives in its own module here, and `kb.cli.session` holds the one way a command
commits its work or fails.
"""

import click
from flask.cli import FlaskGroup

from kb.cli import (
    actions,
    audit,
    backup,
    changelog,
    db,
    digest,
    hooks,
    reviews,
    search,
    seed,
    themes,
    trackers,
    transfer,
    users,
)


def _create_app():
    import os

    from kb import create_app

    # At a terminal, plain text logs; servers (wsgi.py) log JSON unless told otherwise.
    return create_app({"LOG_FORMAT": os.environ.get("KB_LOG_FORMAT") or "text"})


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def main():
    """Hindsight: a knowledge base for blameless postmortems."""


def init_app(app):
    """Add the domain command groups to the app's CLI (and so to `kb`)."""
    for module in (
        db,
        seed,
        transfer,
        users,
        audit,
        digest,
        reviews,
        hooks,
        themes,
        search,
        changelog,
        backup,
        trackers,
        actions,
    ):
        for command in module.COMMANDS:
            app.cli.add_command(command)
