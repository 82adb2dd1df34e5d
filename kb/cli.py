"""The `kb` command: Flask's CLI plus one group per domain (db, users, tokens, ...).

Click functions parse arguments, call one domain function, commit once and print.
"""

import sys
from pathlib import Path

import click
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from kb import accounts, audit, seed, transfer
from kb.db import get_session


def _create_app():
    from kb import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def main():
    """Hindsight: a knowledge base for blameless postmortems."""


def init_app(app):
    """Add the domain command groups to the app's CLI (and so to `kb`)."""
    for command in (db, seed_command, import_command, export_command, users, tokens, audit_command):
        app.cli.add_command(command)


def _fail(message):
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(1)


# --- db -----------------------------------------------------------------------------------


@click.group(cls=AppGroup)
def db():
    """Create and migrate the database."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision):
    """Apply the database migrations."""
    from kb import migrations

    migrations.upgrade(revision)
    click.echo(f"Database is at {migrations.current() or 'base'}.")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision):
    """Revert the database to an earlier migration (for example -1)."""
    from kb import migrations

    migrations.downgrade(revision)
    click.echo(f"Database is at {migrations.current() or 'base'}.")


# --- seed, import, export -----------------------------------------------------------------


@click.command("seed")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Only when the database holds no postmortem yet.")
def seed_command(if_empty):
    """Load the demo organisation (users and postmortems)."""
    session = get_session()
    if if_empty and not seed.is_empty(session):
        click.echo("The database already holds postmortems: demo data not loaded.")
        _sign_in_hint(session)
        return
    organisation = seed.load_organisation(session)
    report = seed.load_postmortems(session)
    if not report.ok:
        session.rollback()
        _fail("the demo data is invalid:\n" + "\n".join(report.problems))
    session.commit()
    click.echo(
        f"Loaded {organisation['company']}: {report.created} postmortems created, "
        f"{report.updated} updated, {report.unchanged} unchanged."
    )
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


_DEMO_NAMES = ("admin", "author", "reviewer", "reader")


@click.command("import")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def import_command(path):
    """Import postmortems from a .json or .jsonl file, or a folder of them.

    Idempotent by ref: importing again updates, never duplicates. Invalid records are
    reported with file, line and field; the valid ones are imported; the exit status is 1.
    """
    session = get_session()
    records = list(transfer.read_records(path))
    with click.progressbar(
        length=len(records), label="Importing", file=sys.stderr, show_pos=True
    ) as bar:
        report = transfer.import_records(session, records, progress=lambda _r: bar.update(1))
    session.commit()
    click.echo(
        f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{len(records) - report.created - report.updated - report.unchanged} invalid."
    )
    if not report.ok:
        for problem in report.problems:
            click.secho(problem, fg="red", err=True)
        sys.exit(1)


@click.command("export")
@with_appcontext
@click.option(
    "--format", "fmt", type=click.Choice(["json", "markdown"]), default="json", show_default=True
)
@click.option("--as-user", "as_user", help="Export only what this user may see.")
@click.argument("dest", type=click.Path(path_type=Path))
def export_command(fmt, as_user, dest):
    """Export postmortems to DEST (a folder, or a .jsonl file for --format json)."""
    session = get_session()
    user = None
    if as_user:
        user = accounts.get_user(session, as_user)
        if user is None:
            _fail(f"no user {as_user}")
    count = transfer.export_documents(session, dest, fmt, user=user)
    click.echo(f"Exported {count} postmortems to {dest}.")


# --- users and tokens ---------------------------------------------------------------------


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
    session = get_session()
    try:
        user = accounts.create_user(session, email, role, password=password, name=name, teams=teams)
    except accounts.AccountError as exc:
        _fail(str(exc))
    session.commit()
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
    session = get_session()
    try:
        accounts.set_role(session, email, role)
    except accounts.AccountError as exc:
        _fail(str(exc))
    session.commit()
    click.echo(f"{email} is now {role}.")


@users.command("set-teams")
@click.argument("email")
@click.argument("teams", nargs=-1)
def users_set_teams(email, teams):
    """Replace a user's teams."""
    session = get_session()
    try:
        accounts.set_teams(session, email, teams)
    except accounts.AccountError as exc:
        _fail(str(exc))
    session.commit()
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
    session = get_session()
    try:
        accounts.set_active(session, email, active)
    except accounts.AccountError as exc:
        _fail(str(exc))
    session.commit()
    click.echo(f"{email} is {'enabled' if active else 'disabled'}.")


@users.command("set-password")
@click.argument("email")
@click.option("--password", help="Prompted for when not given.")
def users_set_password(email, password):
    """Set a user's password."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    session = get_session()
    user = accounts.get_user(session, email)
    if user is None:
        _fail(f"no user {email}")
    try:
        accounts.set_password(user, password)
    except accounts.AccountError as exc:
        _fail(str(exc))
    session.commit()
    click.echo(f"Password of {email} changed.")


@click.group(cls=AppGroup)
def tokens():
    """Manage API tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for.")
def tokens_create(email, name):
    """Create an API token; it is printed once and only its digest is kept."""
    session = get_session()
    try:
        row, token = accounts.create_token(session, email, name)
    except accounts.AccountError as exc:
        _fail(str(exc))
    session.commit()
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
@click.argument("token_id", type=int)
def tokens_revoke(token_id):
    """Revoke an API token by its number (see `kb tokens list`)."""
    session = get_session()
    try:
        accounts.revoke_token(session, token_id)
    except accounts.AccountError as exc:
        _fail(str(exc))
    session.commit()
    click.echo(f"Token #{token_id} revoked.")


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
