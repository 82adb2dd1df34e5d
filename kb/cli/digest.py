"""`kb digest`: preview, send and follow the monthly lessons-learned digest."""

import sys

import click
from flask.cli import AppGroup

from kb import accounts
from kb.cli.session import committing, fail
from kb.db import get_session


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
        fail(str(exc))


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
        fail(str(exc))
    session = get_session()
    common = {
        "backend": backend,
        "mail_from": config["MAIL_FROM"],
        "secret_key": config["SECRET_KEY"],
        "base_url": config["BASE_URL"],
    }
    if to:
        if "@" not in to:
            fail(f"{to!r} is not an e-mail address")
        try:
            msg_id = send.send_test(session, month, to, **common)
        except mail.MailError as exc:
            fail(f"the test copy was not sent: {exc}")
        click.echo(
            f"Sent a test copy of {month:%B %Y} to {to} ({msg_id}); the send log is unchanged."
        )
        return
    try:
        everyone = len(send.recipients(session, config["DIGEST_EXTRA_RECIPIENTS"]))
    except send.RecipientError as exc:
        fail(str(exc))
    click.echo(
        f"Digest for {month:%B %Y}{' (dry run)' if dry_run else ''} via {backend.describe()}: "
        f"{everyone} recipient{'' if everyone == 1 else 's'}.",
        err=True,
    )
    with (
        committing() as session,
        click.progressbar(
            length=everyone, label="Sending" if not dry_run else "Composing", file=sys.stderr
        ) as bar,
    ):
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
            fail(f"no user {as_user}")
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


COMMANDS = (digest,)
