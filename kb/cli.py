"""The `kb` command: Flask's CLI plus one group per domain (db, users, tokens, ...).

Click functions parse arguments, call one domain function, commit once and print.
"""

import sys
from pathlib import Path

import click
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from kb import accounts, audit, seed, transfer
from kb.db import get_session
from kb.models import MAX_INT


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
    for command in (
        db,
        seed_command,
        import_command,
        export_command,
        users,
        tokens,
        audit_command,
        digest,
        reviews,
        themes,
        search,
        changelog,
        backup_command,
        restore_command,
    ):
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
    import logging

    from kb import migrations

    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line of result is enough
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
@click.option(
    "--hint/--no-hint", default=True, help="Say how to sign in to the demo afterwards (default)."
)
@click.option("--hint-only", is_flag=True, help="Only say how to sign in to the demo.")
def seed_command(if_empty, hint, hint_only):
    """Load the demo organisation (users and postmortems)."""
    session = get_session()
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
        _fail("the demo data is invalid:\n" + "\n".join(report.problems))
    session.commit()
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
@click.argument("token_id", type=click.IntRange(1, MAX_INT))
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


# --- digest -------------------------------------------------------------------------------


@click.group(cls=AppGroup)
def digest():
    """The monthly lessons-learned digest: preview and send it."""


def _digest_month(value):
    from kb.months import MonthError, last_ended_month, parse_month

    if value is None:
        return last_ended_month()
    try:
        return parse_month(value)
    except MonthError as exc:
        _fail(str(exc))


@digest.command("send")
@click.option("--month", help="YYYY-MM; default: the month that just ended.")
@click.option("--dry-run", is_flag=True, help="Compose and list who would get it; send nothing.")
@click.option(
    "--to", "to", metavar="ADDRESS", help="Send one test copy here; the log is untouched."
)
@click.option(
    "--resend-uncertain",
    is_flag=True,
    help="Also resend to addresses whose earlier send may or may not have arrived.",
)
def digest_send(month, dry_run, to, resend_uncertain):
    """Send a month's digest to everyone who has not had it yet.

    Idempotent: a rerun sends only to those who did not get it. Exit status 1 when anyone
    is left without it (they are listed).
    """
    from flask import current_app

    from kb.digest import mail, send

    month = _digest_month(month)
    config = current_app.config
    try:
        backend = mail.backend_from_config(config)
    except ValueError as exc:
        _fail(str(exc))
    session = get_session()
    common = {
        "backend": backend,
        "mail_from": config["MAIL_FROM"],
        "secret_key": config["SECRET_KEY"],
        "base_url": config["BASE_URL"],
    }
    if to:
        if "@" not in to:
            _fail(f"{to!r} is not an e-mail address")
        try:
            msg_id = send.send_test(session, month, to, **common)
        except mail.MailError as exc:
            _fail(f"the test copy was not sent: {exc}")
        click.echo(
            f"Sent a test copy of {month:%B %Y} to {to} ({msg_id}); the send log is unchanged."
        )
        return
    try:
        everyone = len(send.recipients(session, config["DIGEST_EXTRA_RECIPIENTS"]))
    except send.RecipientError as exc:
        _fail(str(exc))
    click.echo(
        f"Digest for {month:%B %Y}{' (dry run)' if dry_run else ''} via {backend.describe()}: "
        f"{everyone} recipient{'' if everyone == 1 else 's'}.",
        err=True,
    )
    with click.progressbar(
        length=everyone, label="Sending" if not dry_run else "Composing", file=sys.stderr
    ) as bar:
        report = send.send_month(
            session,
            month,
            commit=session.commit,
            extra=config["DIGEST_EXTRA_RECIPIENTS"],
            dry_run=dry_run,
            resend_uncertain=resend_uncertain,
            progress=lambda _r: bar.update(1),
            **common,
        )
    session.commit()
    _print_send_report(report)
    if not report.ok:
        sys.exit(1)


def _print_send_report(report):
    if report.dry_run:
        click.echo(
            f"Would send to {len(report.would_send)} ({report.versions} distinct version"
            f"{'' if report.versions == 1 else 's'}); {len(report.already)} already have it."
        )
        for address in report.would_send:
            click.echo(f"  {address}")
    else:
        click.echo(f"Sent {len(report.sent)}; {len(report.already)} already had it.")
    if report.missing:
        click.secho(f"Did not get it ({len(report.missing)}):", fg="red", err=True)
        for address, reason in report.missing:
            click.secho(f"  {address}: {reason}", fg="red", err=True)
    if report.failed or report.not_attempted:
        click.echo(
            f"Run `kb digest send --month {report.month}` again to send to them only.", err=True
        )
    if report.uncertain:
        click.echo(
            "Uncertain messages may have arrived: look for their Message-ID in the mail server's "
            "log, then rerun with --resend-uncertain if they did not.",
            err=True,
        )


@digest.command("preview")
@click.option("--month", help="YYYY-MM; default: the month that just ended.")
@click.option(
    "--as", "as_user", metavar="EMAIL", help="As this user would get it (default: lists)."
)
@click.option("--html", "as_html", is_flag=True, help="Print the HTML instead of the plain text.")
def digest_preview(month, as_user, as_html):
    """Print a month's digest (plain text, or HTML) without sending it."""
    from kb.digest.compose import INTERNAL_ONLY, compose
    from kb.digest.render import render

    month = _digest_month(month)
    session = get_session()
    viewer, to = INTERNAL_ONLY, "distribution lists"
    if as_user:
        viewer = accounts.get_user(session, as_user)
        if viewer is None:
            _fail(f"no user {as_user}")
        to = viewer.email
    content = render(compose(session, viewer, month), to=to, is_list=not as_user)
    if as_html:
        click.echo(content.html)
    else:
        click.echo(f"Subject: {content.subject}\n")
        click.echo(content.text)


@digest.command("log")
@click.option("--month", help="YYYY-MM; default: the month that just ended.")
def digest_log(month):
    """Show the send log of a month: who got it, who did not and why."""
    from kb.digest import send

    month = _digest_month(month)
    rows = sorted(send.send_log(get_session(), month).values(), key=lambda r: r.address)
    for row in rows:
        when = f"{row.updated_at:%Y-%m-%d %H:%M}"
        click.echo(f"{row.address:<40} {row.variant:<8} {row.status:<8} {when}  {row.error}")
    click.echo(f"{len(rows)} entries for {month:%B %Y}.")


# --- themes -------------------------------------------------------------------------------


@click.group(cls=AppGroup)
def themes():
    """Recurring themes and similar incidents: rebuild them from published postmortems."""


@themes.command("rebuild")
@click.option("--force", is_flag=True, help="Rebuild even when nothing changed since last time.")
def themes_rebuild(force):
    """Recompute themes and similar incidents (does nothing when nothing changed).

    Cheap to run often (from cron or a systemd timer): it compares a fingerprint of the
    published postmortems with the last run's and returns at once when they match.
    """
    from kb.insights import themes as insights_themes

    session = get_session()
    with click.progressbar(length=5, label="Rebuilding themes", file=sys.stderr) as bar:

        def progress(step, _total, message):
            bar.label = f"Rebuilding themes: {message}"
            bar.update(step - bar.pos)

        report = insights_themes.rebuild(session, force=force, progress=progress)
    session.commit()
    if not report.changed:
        click.echo(
            f"Nothing changed since the last rebuild: {report.themes} themes "
            f"from {report.factors} factors."
        )
        return
    click.echo(
        f"{report.themes} themes from {report.factors} factors of {report.postmortems} "
        f"published postmortems in {report.seconds:.1f} s ({report.method})."
    )


@themes.command("list")
def themes_list():
    """List the stored themes, recurring first."""
    from kb.insights import themes as insights_themes

    for view in insights_themes.list_themes(get_session(), None):
        mark = "*" if view.recurring else " "
        click.echo(
            f"{mark} #{view.id:<5} {view.size:>5} factors {view.postmortems:>5} pms  {view.label}"
        )


# --- search -------------------------------------------------------------------------------


@click.group(cls=AppGroup)
def search():
    """Build, check and inspect the full-text search index."""


@search.command("reindex")
@click.option("--procs", default=2, show_default=True, help="Indexing processes.")
def search_reindex(procs):
    """Rebuild the search index from the database (searches keep working meanwhile)."""
    from flask import current_app
    from sqlmodel import func, select

    from kb.models import Postmortem
    from kb.search.index import IndexUnavailable
    from kb.search.service import service_for

    search = service_for(current_app)
    session = get_session()
    total = session.exec(select(func.count()).select_from(Postmortem)).one()
    try:
        with click.progressbar(
            length=total, label="Indexing", file=sys.stderr, show_pos=True, show_eta=True
        ) as bar:
            count = search.rebuild(session, progress=bar.update, procs=procs)
    except IndexUnavailable as exc:
        _fail(str(exc))
    search.report_position(session)
    session.commit()
    click.echo(f"Indexed {count} postmortems.")


@search.command("check")
def search_check():
    """Compare the index with the database; exit 1 on any difference."""
    from flask import current_app

    from kb.search.service import service_for

    report = service_for(current_app).check(get_session())
    if not report.available:
        _fail(f"the search index is not usable ({report.lag} changes pending): `kb search reindex`")
    click.echo(
        f"{report.indexed} postmortems indexed, {report.in_database} in the database, "
        f"{report.lag} changes not applied yet."
    )
    differences = (("missing", report.missing), ("extra", report.extra), ("stale", report.stale))
    for label, refs in differences:
        if refs:
            shown = ", ".join(refs[:20]) + (" …" if len(refs) > 20 else "")
            click.secho(f"{len(refs)} {label}: {shown}", fg="red", err=True)
    if report.drift:
        _fail("the index differs from the database (see above); `kb search reindex` rebuilds it")
    click.echo("The index matches the database.")


@search.command("status")
def search_status():
    """Show the index: documents, last change applied, changes pending, size."""
    from flask import current_app

    from kb.search.service import service_for

    info = service_for(current_app).status(get_session())
    keys = ("path", "available", "documents", "segments", "upto", "gaps", "latest_change", "lag")
    keys += ("pruned_upto", "follower", "follows")
    for key in keys:
        if key in info:
            click.echo(f"{key:<14} {info[key]}")
    click.echo(f"{'size':<14} {info['size_bytes'] / 1_048_576:.1f} MiB")
    if info.get("problem"):
        click.secho(info["problem"], fg="red", err=True)


# --- changelog -----------------------------------------------------------------------------


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

    session = get_session()
    settings = log.prune_settings(current_app.config)
    deleted, left = 0, limit
    while True:
        batch = log.PRUNE_BATCH if left is None else min(left, log.PRUNE_BATCH)
        report = log.prune(session, **settings, limit=batch)
        session.commit()  # one transaction per batch: writers are never held up for long
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

    session = get_session()
    if not log.forget(session, name):
        _fail(f"no follower is called {name!r}; `kb changelog status` lists them")
    session.commit()
    click.echo(f"Forgot {name}; if it comes back, its index is rebuilt.")


# --- backup, restore (kb/ops/backup.py) ---------------------------------------------------


@click.command("backup")
@with_appcontext
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
def backup_command(dest):
    """Write a consistent backup into the new folder DEST, while the app keeps serving.

    SQLite: a copy by the online backup API; PostgreSQL: pg_dump (when installed). Both with
    every postmortem in the document format (documents.jsonl). See docs/operations.md.
    """
    from sqlmodel import func, select

    from kb.models import Postmortem
    from kb.ops import backup

    session = get_session()
    about = session.exec(select(func.count()).select_from(Postmortem)).one()
    session.rollback()  # the backup takes its own snapshot
    try:
        with click.progressbar(length=about, label="Exporting", file=sys.stderr) as bar:
            manifest = backup.backup(session, dest, progress=lambda _pm: bar.update(1))
    except backup.BackupError as exc:
        _fail(str(exc))
    for warning in manifest.warnings:
        click.secho(f"Warning: {warning}", fg="yellow", err=True)
    what = manifest.snapshot or "no database snapshot"
    click.echo(
        f"Backed up {manifest.postmortems} postmortems ({manifest.database}, schema "
        f"{manifest.revision}, {what} + {manifest.documents}) to {dest} "
        f"in {manifest.seconds:.1f} s."
    )


@click.command("restore")
@with_appcontext
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--from-documents",
    is_flag=True,
    help="Rebuild from documents.jsonl only (postmortems, not accounts), even when a "
    "database snapshot of the same kind is there.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore_command(src, from_documents, yes):
    """Replace this database with the backup in SRC, migrate it, and rebuild the search index.

    Stop the app servers first. Other servers' indexes notice the restored change log and
    rebuild themselves; `kb search check` on each proves it.
    """
    from flask import current_app

    from kb.db import engine
    from kb.ops import backup
    from kb.search.index import IndexUnavailable
    from kb.search.service import service_for

    url = current_app.config["DATABASE_URL"]
    try:
        manifest = backup.read_manifest(src)
        method = backup.restore_method(manifest, src, url, from_documents)
    except backup.BackupError as exc:
        _fail(str(exc))
    shown = engine().url.render_as_string(hide_password=True)
    click.echo(
        f"Backup of {manifest.created_at}: {manifest.postmortems} postmortems from "
        f"{manifest.database}, restored by {method}.",
        err=True,
    )
    if method == "documents":
        click.echo("Accounts are not in the documents: recreate them with `kb users`.", err=True)
    if not yes:
        click.confirm(f"This replaces everything in {shown}. Go on?", abort=True, err=True)
    engine().dispose()  # no pooled connection may hold the old database open
    try:
        with click.progressbar(
            length=manifest.postmortems, label="Importing", file=sys.stderr
        ) as bar:
            report = backup.restore(
                src, url, from_documents=from_documents, progress=lambda _r: bar.update(1)
            )
    except backup.BackupError as exc:
        _fail(str(exc))
    engine().dispose()
    for problem in report.problems:
        click.secho(problem, fg="red", err=True)
    session = get_session()
    try:
        indexed = service_for(current_app).rebuild(session)
    except IndexUnavailable as exc:
        _fail(f"the database is restored, but the search index was not rebuilt: {exc}")
    click.echo(
        f"Restored {report.postmortems} postmortems by {report.method} (the backup holds "
        f"{report.expected}); search index rebuilt ({indexed} postmortems)."
    )
    if report.problems:
        sys.exit(1)


# --- reviews ------------------------------------------------------------------------------


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
        _fail(str(exc))
    session = get_session()
    result = review_mail.send_due(
        session, backend=backend, commit=session.commit, mail_from=config["MAIL_FROM"]
    )
    click.echo(
        f"Review e-mail via {backend.describe()}: {result.sent} sent, {result.failed} failed, "
        f"{result.skipped} no longer wanted."
    )
    if result.failed:
        sys.exit(1)
