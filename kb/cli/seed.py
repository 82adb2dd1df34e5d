"""`kb seed`: load the demo organisation."""

import click
from flask.cli import with_appcontext

from kb import accounts, seed
from kb.cli.session import committing, fail

_DEMO_NAMES = ("admin", "author", "reviewer", "reader")


@click.command("seed")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Only when the database holds no postmortem yet.")
@click.option(
    "--hint/--no-hint", default=True, help="Say how to sign in to the demo afterwards (default)."
)
@click.option("--hint-only", is_flag=True, help="Only say how to sign in to the demo.")
def seed_command(if_empty, hint, hint_only):
    """Load the demo organisation (users and postmortems)."""
    with committing() as session:
        if hint_only:
            _sign_in_hint(session)
            return
        if if_empty and not seed.is_empty(session):
            click.echo("The database already holds postmortems: demo data not loaded.")
            if hint:
                _sign_in_hint(session)
            return
        organisation = seed.load_organisation(session)
        report = seed.load_postmortems(session)
        if not report.ok:
            session.rollback()
            fail("the demo data is invalid:\n" + "\n".join(report.problems))
    click.echo(
        f"Loaded {organisation['company']}: {report.created} postmortems created, "
        f"{report.updated} updated, {report.unchanged} unchanged."
    )
    if hint:
        _sign_in_hint(session)


def _sign_in_hint(session):
    users = [u for u in accounts.list_users(session) if u.email.split("@")[0] in _DEMO_NAMES]
    if not users:
        return
    from flask import current_app

    click.echo("")
    click.secho(f"Sign in at {current_app.config['BASE_URL']}/ as one of:", bold=True)
    for user in users:
        click.echo(f"  {user.email:<32} {user.role:<7} password: {seed.DEMO_PASSWORD}")
    click.echo("")


COMMANDS = (seed_command,)
