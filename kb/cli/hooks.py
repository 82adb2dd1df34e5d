"""`kb hooks`: outgoing webhooks: add, list, pause, remove, deliver, and what was sent."""

import secrets
import sys

import click
from flask.cli import AppGroup

from kb.cli.session import committing
from kb.db import get_session


@click.group(cls=AppGroup)
def hooks():
    """Outgoing webhooks (docs/webhooks.md)."""


@hooks.command("add")
@click.argument("url")
@click.option(
    "--events",
    default="",
    help="Comma-separated events to send (default: all): postmortem.published, "
    "review.requested, review.decided, action_item.overdue, digest.sent.",
)
@click.option(
    "--format",
    "format_",
    default="json",
    show_default=True,
    help="json (the documented payload) or slack (a chat message Slack, Mattermost and "
    "Rocket.Chat accept).",
)
@click.option(
    "--secret",
    default="",
    help="Sign each request with this secret (X-Hindsight-Signature); `-` reads it from "
    "standard input.",
)
@click.option("--generate-secret", is_flag=True, help="Make a random secret and print it once.")
@click.option(
    "--restricted/--no-restricted",
    default=False,
    help="Also send events about restricted postmortems (never sent otherwise).",
)
@click.option("--description", default="", help="A note on what the hook is for.")
def hooks_add(url, events, format_, secret, generate_secret, restricted, description):
    """Send events to URL."""
    from kb.hooks import registry

    if secret and generate_secret:
        raise click.UsageError("Give --secret or --generate-secret, not both.")
    if secret == "-":  # noqa: S105 (the word for "read it from standard input")
        secret = sys.stdin.readline().strip()
    if generate_secret:
        secret = secrets.token_hex(32)
    with committing(registry.HookError) as session:
        hook = registry.add_hook(
            session,
            url,
            events=events,
            format=format_,
            secret=secret,
            receives_restricted=restricted,
            description=description,
        )
    click.echo(f"Added hook {hook.id}: {hook.url} ({hook.format}; {', '.join(hook.events)}).")
    if generate_secret:
        click.echo(f"Its secret (shown only now): {secret}")


@hooks.command("list")
def hooks_list():
    """Every hook, with what it receives (secrets are never shown)."""
    from kb.hooks import registry

    session = get_session()
    found = registry.hooks(session)
    pending = registry.pending_counts(session)
    if not found:
        click.echo("No hooks. Add one with `kb hooks add URL`.")
        return
    for hook in found:
        facts = [hook.format, "signed" if hook.secret else "unsigned"]
        if hook.receives_restricted:
            facts.append("receives restricted")
        if not hook.active:
            facts.append("paused")
        facts.append(f"{pending.get(hook.id, 0)} pending")
        click.echo(f"{hook.id}\t{hook.url}\t{', '.join(facts)}\t{','.join(hook.events)}")
        if hook.description:
            click.echo(f"\t{hook.description}")


@hooks.command("remove")
@click.argument("hook_id", type=int)
def hooks_remove(hook_id):
    """Remove a hook, with its queue and its history of deliveries."""
    from kb.hooks import registry

    with committing(registry.HookError) as session:
        hook = registry.remove_hook(session, hook_id)
    click.echo(f"Removed hook {hook_id} ({hook.url}).")


@hooks.command("pause")
@click.argument("hook_id", type=int)
def hooks_pause(hook_id):
    """Stop sending to a hook (events meanwhile are not queued for it)."""
    from kb.hooks import registry

    with committing(registry.HookError) as session:
        registry.set_active(session, hook_id, False)
    click.echo(f"Paused hook {hook_id}.")


@hooks.command("resume")
@click.argument("hook_id", type=int)
def hooks_resume(hook_id):
    """Send to a paused hook again (what is still queued for it goes out)."""
    from kb.hooks import registry

    with committing(registry.HookError) as session:
        registry.set_active(session, hook_id, True)
    click.echo(f"Resumed hook {hook_id}.")


@hooks.command("deliver")
@click.option("--limit", type=click.IntRange(1, 10_000), default=500, show_default=True)
def hooks_deliver(limit):
    """Send what is due now (and write today's overdue action items); for cron.

    Exit status 1 when some request failed (it stays queued and is retried later).
    """
    from flask import current_app

    from kb.hooks import delivery, worker

    session = get_session()
    total = worker.run_round(current_app, session, limit=limit)
    report = total
    # Rounds until nothing more is due (a failure is due again only later), within --limit.
    while report.tried + report.skipped and total.tried + total.skipped < limit:
        left = limit - total.tried - total.skipped
        report = delivery.deliver_due(
            session, timeout=current_app.config["HOOKS_TIMEOUT"], limit=min(left, 50)
        )
        total.add(report)
    click.echo(
        f"Webhooks: {total.delivered} delivered, {total.failed} failed (retried later), "
        f"{total.given_up} given up, {total.skipped} withheld."
    )
    if total.failed or total.given_up:
        sys.exit(1)


@hooks.command("deliveries")
@click.option("--hook", "hook_id", type=int, default=None, help="Only this hook's.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def hooks_deliveries(hook_id, limit):
    """The latest deliveries, newest first, each with its attempts."""
    from kb.hooks import delivery, registry

    session = get_session()
    if hook_id is not None:
        try:
            registry.get_hook(session, hook_id)
        except registry.HookError as exc:
            from kb.cli.session import fail

            fail(str(exc))
    rows = delivery.deliveries(session, hook_id=hook_id, limit=limit)
    if not rows:
        click.echo("No deliveries.")
        return
    for d, attempts in rows:
        when = f"{d.created_at:%Y-%m-%d %H:%M:%S}"
        line = f"{d.uuid}  hook {d.hook_id}  {d.event}  {d.state}  {when} UTC"
        if d.state == "pending" and d.attempts:
            line += f"  (next try {d.next_attempt_at:%H:%M:%S})"
        click.echo(line)
        for a in attempts:
            outcome = str(a.status) if a.status is not None else "no answer"
            detail = f"  {a.error}" if a.error and not (a.status and 200 <= a.status < 300) else ""
            click.echo(
                f"    #{a.number} {a.at:%Y-%m-%d %H:%M:%S}  {outcome}  {a.duration_ms} ms{detail}"
            )


COMMANDS = (hooks,)
