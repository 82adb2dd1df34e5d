"""The risk radar: what past incidents say about a planned change, while it is planned.

For the services a change touches, its kind (the trigger) and the text written so far, the
radar lists the recurring themes those services' past incidents belong to, the most similar
past incidents and near misses, the action items still open on those services, and the share
of those services' incidents that followed a change of the same kind. Each entry carries a
`source` to quote and a suggested risk, so that it can be added to a pre-mortem as it is.

Past incidents are published postmortems of kind incident or near-miss (what the
organisation has learnt), read through the visibility rule: every list, count and share is
computed over the postmortems the reader may see, so none of them reveals a restricted one.
The counts come from the in-memory snapshot of published postmortems (kb.insights.snapshot,
followed through the change log); the few rows shown are read from the database by id and
checked against the visibility rule again.
"""

from datetime import UTC, datetime

from kb import accounts
from kb.insights import similar, snapshot
from kb.insights.radar import counting, entries
from kb.insights.radar.result import (
    ACTIONS_SHOWN,
    MAX_SERVICES,
    MAX_TEXT,
    PAST_KINDS,
    SIMILAR_SHOWN,
    THEMES_SHOWN,
    ChangeShare,
    Radar,
    RadarAction,
    RadarIncident,
    RadarInputError,
    RadarTheme,
    clean_input,
)
from kb.models import SECTIONS, TRIGGERS

__all__ = [
    "ACTIONS_SHOWN",
    "MAX_SERVICES",
    "MAX_TEXT",
    "PAST_KINDS",
    "SIMILAR_SHOWN",
    "THEMES_SHOWN",
    "ChangeShare",
    "Radar",
    "RadarAction",
    "RadarIncident",
    "RadarInputError",
    "RadarTheme",
    "clean_input",
    "for_postmortem",
    "radar",
    "text_of",
]


def text_of(pm):
    """The text of a postmortem the radar reads: its title and every section."""
    parts = [pm.title or ""] + [getattr(pm, name, "") or "" for name in SECTIONS]
    return "\n".join(p for p in parts if p)[:MAX_TEXT]


def for_postmortem(session, user, pm, today=None):
    """The radar of a stored postmortem: its services, trigger and text, itself left out."""
    return radar(
        session,
        user,
        pm.label_values("services")[:MAX_SERVICES],
        pm.trigger if pm.trigger in TRIGGERS else "unknown",
        text_of(pm),
        exclude_id=pm.id,
        today=today,
    )


def radar(session, user, services, trigger, text, exclude_id=None, today=None):
    """The radar for a change to `services` of kind `trigger` described by `text`, as `user`
    (a user, or an accounts.Scope) may see it. Input as clean_input returns it."""
    scope = user if isinstance(user, accounts.Scope) else accounts.scope_of(user)
    services, text = list(services)[:MAX_SERVICES], (text or "")[:MAX_TEXT]
    today = today or datetime.now(UTC).date()
    result = Radar(services=services, trigger=trigger)
    snap = snapshot.for_session(session)
    with snap.lock:
        snap.refresh(session)
        # Typing changes the text far more often than the services or the trigger: the
        # counts are kept until the data changes (read-only from here on).
        counted = snap.cached(
            ("radar", scope, tuple(services), trigger, exclude_id, today),
            lambda: counting.count(snap, scope, services, trigger, exclude_id, today),
        )
        labels = snap.cached(("radar-labels", scope), dict)  # filled as themes are shown
    result.incidents = counted["incidents"]
    result.change_share = entries.change_share(counted, services, trigger)
    # The rows shown are checked against the visibility rule again (by id, kb.insights.similar)
    result.themes = entries.themes(session, scope, counted["themes"], labels)
    result.open_actions = entries.actions(session, scope, counted["actions"], services, today)
    result.open_total, result.overdue_total = counted["open"], counted["overdue"]
    found = similar.suggest(
        session,
        scope,
        text,
        limit=SIMILAR_SHOWN,
        services=services,
        exclude=exclude_id,
        kinds=PAST_KINDS,
    )
    result.similar = [entries.incident(item) for item in found]
    return result
