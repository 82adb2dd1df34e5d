"""Adding, listing and removing trackers, and finding the tracker an action item links to.

Every function takes the session first, flushes and never commits; the caller commits once.
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlmodel import delete, select

from kb.models import Tracker, TrackerIssue
from kb.trackers import kinds

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class TrackerRefused(ValueError):
    """Tracker settings that cannot be used, with the reason in plain words."""


def _base_url(value, what):
    value = (value or "").strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TrackerRefused(f"{what} must be an http:// or https:// address, not {value!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise TrackerRefused(f"{what} must not hold a query, a fragment or credentials")
    if len(value) > 300:
        raise TrackerRefused(f"{what} is longer than 300 characters")
    return value


def add(session, kind, web_url, *, api_url, token_env=None, project=None):
    """Add a tracker; TrackerRefused (nothing added) when a setting cannot be used."""
    if kind not in kinds.KINDS:
        raise TrackerRefused(f"the kind must be one of {', '.join(kinds.KINDS)}, not {kind!r}")
    web_url = _base_url(web_url, "WEB_URL")
    api_url = _base_url(api_url, "--api-url")
    if token_env is not None and not _ENV_NAME.match(token_env):
        raise TrackerRefused(
            "--token-env takes the NAME of an environment variable (letters, digits, _), "
            "not the token itself"
        )
    if project is not None and not kinds.valid_project(kind, project):
        raise TrackerRefused(f"--project for {kind} must be {kinds.PROJECT_HELP[kind]}")
    taken = session.exec(select(Tracker).where(Tracker.web_url == web_url)).first()
    if taken is not None:
        raise TrackerRefused(f"tracker {taken.id} already follows {web_url}")
    tracker = Tracker(
        kind=kind, web_url=web_url, api_url=api_url, token_env=token_env, project=project
    )
    session.add(tracker)
    session.flush()
    return tracker


def listing(session):
    """Every tracker, in the order they were added."""
    return session.exec(select(Tracker).order_by(Tracker.id)).all()


def remove(session, tracker_id):
    """Remove a tracker and its readings (action items keep their links and status)."""
    tracker = session.get(Tracker, tracker_id)
    if tracker is None:
        raise TrackerRefused(f"there is no tracker {tracker_id} (see kb trackers list)")
    session.exec(delete(TrackerIssue).where(TrackerIssue.tracker_id == tracker.id))
    session.delete(tracker)
    session.flush()
    return tracker


@dataclass(frozen=True)
class Settings:
    """A tracker's settings as plain values, usable after its session's transaction ends
    (requests to trackers are made outside any transaction)."""

    id: int
    kind: str
    web_url: str
    api_url: str
    token_env: str | None
    project: str | None


def settings(session):
    """The Settings of every tracker."""
    return [
        Settings(t.id, t.kind, t.web_url, t.api_url, t.token_env, t.project)
        for t in listing(session)
    ]


def tracker_for(trackers, url):
    """(tracker, issue key) for the tracker whose links `url` is one of, or (None, None).

    The longest matching WEB_URL wins, so a tracker of one GitLab group can sit beside one of
    the whole server."""
    for tracker in sorted(trackers, key=lambda t: len(t.web_url), reverse=True):
        key = kinds.issue_key(tracker, url)
        if key is not None:
            return tracker, key
    return None, None


def readings(session, urls):
    """{url: (tracker's kind as written, TrackerIssue)} for the issues these links name:
    what the page shows beside each item (the caller shows only items it may show)."""
    urls = sorted({u for u in urls if u})
    if not urls:
        return {}
    rows = session.exec(
        select(TrackerIssue, Tracker.kind)
        .join(Tracker, TrackerIssue.tracker_id == Tracker.id)
        .where(TrackerIssue.url.in_(urls))
    ).all()
    return {issue.url: (kinds.LABELS[kind], issue) for issue, kind in rows}
