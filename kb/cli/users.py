"""`kb users` and `kb tokens`: user accounts and their API tokens."""

import click
from flask.cli import AppGroup

from kb import accounts
from kb.cli.session import committing, fail
from kb.db import get_session
from kb.models import MAX_INT


@click.group(cls=AppGroup)
def users():
    """Manage user accounts."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["reader", "author", "admin"]), default="reader")
@click.option("--name", default="")
@click.option("--team", "teams", multiple=True, help="A team the user belongs to (repeatable).")
@click.option("--password", help="Prompted for when not given.")
def users_create(email, role, name, teams, password):
    """Create a user."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with committing(accounts.AccountError) as session:
        user = accounts.create_user(session, email, role, password=password, name=name, teams=teams)
    click.echo(f"Created {user.email} ({user.role}).")


@users.command("list")
def users_list():
    """List users."""
    rows = accounts.list_users(get_session())
    for user in rows:
        state = "active" if user.active else "disabled"
        click.echo(f"{user.email:<36} {user.role:<7} {state:<9} {', '.join(user.teams)}")


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(["reader", "author", "admin"]))
def users_set_role(email, role):
    """Change a user's role."""
    with committing(accounts.AccountError) as session:
        accounts.set_role(session, email, role)
    click.echo(f"{email} is now {role}.")


@users.command("set-teams")
@click.argument("email")
@click.argument("teams", nargs=-1)
def users_set_teams(email, teams):
    """Replace a user's teams."""
    with committing(accounts.AccountError) as session:
        accounts.set_teams(session, email, teams)
    click.echo(f"{email} is in: {', '.join(sorted(teams)) or 'no team'}.")


@users.command("disable")
@click.argument("email")
def users_disable(email):
    """Disable a user: no sign-in, no API token."""
    _set_active(email, False)


@users.command("enable")
@click.argument("email")
def users_enable(email):
    """Enable a disabled user."""
    _set_active(email, True)


def _set_active(email, active):
    with committing(accounts.AccountError) as session:
        accounts.set_active(session, email, active)
    click.echo(f"{email} is {'enabled' if active else 'disabled'}.")


@users.command("set-password")
@click.argument("email")
@click.option("--password", help="Prompted for when not given.")
def users_set_password(email, password):
    """Set a user's password."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with committing(accounts.AccountError) as session:
        user = accounts.get_user(session, email)
        if user is None:
            fail(f"no user {email}")
        accounts.set_password(user, password)
    click.echo(f"Password of {email} changed.")


@click.group(cls=AppGroup)
def tokens():
    """Manage API tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for.")
def tokens_create(email, name):
    """Create an API token; it is printed once and only its digest is kept."""
    with committing(accounts.AccountError) as session:
        row, token = accounts.create_token(session, email, name)
    click.echo(f"Token #{row.id} for {email} ({name}). Keep it now; it is not shown again:")
    click.echo(token)


@tokens.command("list")
@click.option("--user", "email")
def tokens_list(email):
    """List API tokens (never the tokens themselves)."""
    for token, user in accounts.list_tokens(get_session(), email):
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "live"
        click.echo(f"#{token.id:<5} {user.email:<36} {token.name:<24} {state}")


@tokens.command("revoke")
@click.argument("token_id", type=click.IntRange(1, MAX_INT))
def tokens_revoke(token_id):
    """Revoke an API token by its number (see `kb tokens list`)."""
    with committing(accounts.AccountError) as session:
        accounts.revoke_token(session, token_id)
    click.echo(f"Token #{token_id} revoked.")


COMMANDS = (users, tokens)
