"""Adding, listing, pausing and removing hooks, each recorded in the audit log (a hook can
receive restricted postmortems). Every function takes the session first, flushes and never
commits; the caller commits once. Bad input raises HookError and changes nothing."""

import re
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlmodel import select

from kb import audit
from kb.hooks import EVENTS, FORMATS
from kb.models import MAX_INT, Hook, HookDelivery

MAX_HOOKS = 50  # every event is written once per hook: a bound on what one change costs
URL_MAX = 2000
SECRET_MIN, SECRET_MAX = 16, 200
DESCRIPTION_MAX = 200
_SECRET = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces


class HookError(ValueError):
    """A hook that cannot be added (or found); the message says why, for a person."""

    def __init__(self, message, field=""):
        super().__init__(message)
        self.field = field


def check_url(url):
    """The URL, stripped, or HookError: http(s), with a host, no credentials or spaces."""
    url = (url or "").strip()
    if not url:
        raise HookError("Give the URL to send events to.", field="url")
    if len(url) > URL_MAX:
        raise HookError(f"The URL is too long (at most {URL_MAX} characters).", field="url")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise HookError("The URL may not contain spaces or control characters.", field="url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise HookError(f"{url!r} is not a valid URL: {exc}.", field="url") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise HookError(f"{url!r} is not an http:// or https:// URL.", field="url")
    if not parts.hostname:
        raise HookError(f"{url!r} has no host name.", field="url")
    if parts.username is not None or parts.password is not None:
        raise HookError(
            "Credentials in the URL are not sent: put a token in the URL's path or query, or "
            "give a secret to sign the requests with.",
            field="url",
        )
    return url


def check_events(events):
    """The events asked for, in the order of EVENTS; all of them when none are named."""
    if isinstance(events, str):
        events = events.split(",")
    names = [e.strip() for e in (events or ()) if e and e.strip()]
    unknown = [e for e in names if e not in EVENTS]
    if unknown:
        raise HookError(
            f"Unknown event {unknown[0]!r}: choose from {', '.join(EVENTS)}.", field="events"
        )
    return [e for e in EVENTS if e in names] if names else list(EVENTS)


def check_format(value):
    value = (value or "json").strip().lower()
    if value not in FORMATS:
        raise HookError(
            f"Unknown format {value!r}: choose from {', '.join(FORMATS)}.", field="format"
        )
    return value


def check_secret(secret):
    secret = (secret or "").strip()
    if not secret:
        return ""
    if not SECRET_MIN <= len(secret) <= SECRET_MAX or not _SECRET.fullmatch(secret):
        raise HookError(
            f"The secret must be {SECRET_MIN} to {SECRET_MAX} printable characters without "
            "spaces (for example the output of `openssl rand -hex 32`).",
            field="secret",
        )
    return secret


def add_hook(
    session,
    url,
    *,
    events=None,
    format="json",
    secret="",
    receives_restricted=False,
    description="",
    actor=None,
):
    """Register a hook; HookError (and nothing written) for bad input."""
    url = check_url(url)
    events = check_events(events)
    format = check_format(format)
    secret = check_secret(secret)
    description = " ".join((description or "").split())
    if len(description) > DESCRIPTION_MAX:
        raise HookError(
            f"The description is too long (at most {DESCRIPTION_MAX} characters).",
            field="description",
        )
    count = session.exec(select(func.count()).select_from(Hook)).one()
    if count >= MAX_HOOKS:
        raise HookError(f"There are {count} hooks already, the most Hindsight keeps.")
    hook = Hook(
        url=url,
        events=events,
        format=format,
        secret=secret,
        receives_restricted=bool(receives_restricted),
        description=description,
        created_by_id=getattr(actor, "id", None),
    )
    session.add(hook)
    session.flush()
    restricted = "; receives restricted postmortems" if hook.receives_restricted else ""
    audit.record(
        session,
        actor,
        "hook-add",
        detail=f"hook {hook.id}: {url} ({format}; {', '.join(events)}){restricted}",
    )
    return hook


def hooks(session):
    """Every hook, oldest first."""
    return session.exec(select(Hook).order_by(Hook.id)).all()


def get_hook(session, hook_id):
    """The hook with this id, or HookError."""
    known = isinstance(hook_id, int) and 0 < hook_id <= MAX_INT
    hook = session.get(Hook, hook_id) if known else None
    if hook is None:
        raise HookError(f"There is no hook {hook_id}.", field="id")
    return hook


def remove_hook(session, hook_id, actor=None):
    """Delete a hook with its queue and history; returns the hook removed."""
    hook = get_hook(session, hook_id)
    # The database's ON DELETE CASCADE takes the deliveries and their attempts with it.
    session.delete(hook)
    session.flush()
    audit.record(session, actor, "hook-remove", detail=f"hook {hook_id}: {hook.url}")
    return hook


def set_active(session, hook_id, active, actor=None):
    """Pause (False) or resume (True) a hook: a paused hook is sent nothing and queues
    nothing; resuming does not send what happened meanwhile."""
    hook = get_hook(session, hook_id)
    hook.active = bool(active)
    session.add(hook)
    action = "hook-resume" if hook.active else "hook-pause"
    audit.record(session, actor, action, detail=f"hook {hook_id}: {hook.url}")
    session.flush()
    return hook


def describe(hook):
    """A hook as shown to people: never its secret, only whether it has one."""
    return {
        "id": hook.id,
        "url": hook.url,
        "events": list(hook.events),
        "format": hook.format,
        "signed": bool(hook.secret),
        "receives_restricted": hook.receives_restricted,
        "active": hook.active,
        "description": hook.description,
        "created_at": hook.created_at,
    }


def pending_counts(session):
    """{hook id: deliveries still to send}."""
    rows = session.exec(
        select(HookDelivery.hook_id, func.count())
        .where(HookDelivery.state == "pending")
        .group_by(HookDelivery.hook_id)
    ).all()
    return dict(rows)
