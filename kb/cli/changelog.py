"""`kb changelog`: inspect and prune the change log the search indexes follow."""

import click
from flask.cli import AppGroup

from kb.cli.session import committing, fail
from kb.db import get_session


@click.group(cls=AppGroup)
def changelog():
    """Inspect and prune the change log the search indexes follow."""


@changelog.command("status")
def changelog_status():
    """Show the change log's extent, how far it was pruned, and each follower's position."""
    from sqlmodel import func, select

    from kb import changelog as log
    from kb.models import Change

    session = get_session()
    oldest, newest, rows = session.exec(
        select(func.min(Change.id), func.max(Change.id), func.count(Change.id))
    ).one()
    click.echo(f"{'changes':<14} {rows} (ids {oldest or 0} to {newest or 0})")
    click.echo(f"{'pruned_upto':<14} {log.pruned_upto(session)}")
    click.echo(f"{'last_pruned':<14} {log.last_prune_at(session) or 'never'}")
    for follower in log.followers(session):
        click.echo(f"{follower.applied:>10}  {follower.seen_at:%Y-%m-%d %H:%M}Z  {follower.name}")


@changelog.command("prune")
@click.option("--limit", type=click.IntRange(min=1), help="Delete at most this many changes.")
def changelog_prune(limit):
    """Delete the changes every search index has applied (older than CHANGELOG_KEEP_HOURS);
    forget indexes not heard of for CHANGELOG_FORGET_HOURS (they rebuild when they return)."""
    from flask import current_app

    from kb import changelog as log

    settings = log.prune_settings(current_app.config)
    deleted, left = 0, limit
    while True:
        batch = log.PRUNE_BATCH if left is None else min(left, log.PRUNE_BATCH)
        # One transaction per batch: writers are never held up for long.
        with committing() as session:
            report = log.prune(session, **settings, limit=batch)
        deleted += report.deleted
        for name in report.forgotten:
            click.echo(f"Forgot {name} (not heard of for too long; it rebuilds when back).")
        if left is not None:
            left -= report.deleted
        if not report.deleted or report.upto >= report.target or left == 0:
            break
    click.echo(f"Deleted {deleted} changes; the log now starts after change {report.upto}.")
    if report.reason and not deleted:
        click.echo(f"Nothing to prune: {report.reason}.")


@changelog.command("forget")
@click.argument("name")
def changelog_forget(name):
    """Stop keeping changes for follower NAME (a server taken out of service)."""
    from kb import changelog as log

    with committing() as session:
        if not log.forget(session, name):
            fail(f"no follower is called {name!r}; `kb changelog status` lists them")
    click.echo(f"Forgot {name}; if it comes back, its index is rebuilt.")


COMMANDS = (changelog,)
