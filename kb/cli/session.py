"""How a command ends: its work committed once, or a message and exit status 1."""

import sys
from contextlib import contextmanager

import click

from kb.db import get_session


def fail(message):
    """Print `message` as an error and exit with status 1."""
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(1)


@contextmanager
def committing(*refusals):
    """The command's session, committed when the block ends.

    A refusal (an exception of one of the `refusals` classes) raised in the block ends the
    command with its message and exit status 1, and nothing of the block is saved.
    """
    session = get_session()
    try:
        yield session
    except refusals as exc:
        session.rollback()
        fail(str(exc))
    session.commit()
