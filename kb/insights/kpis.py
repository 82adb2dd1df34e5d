"""The organisation's key figures, computed from published postmortems through visibility.

A month's figures for the digest are computed here by SQL; the dashboard of many months is
in kb.insights.dashboard. Never scikit-learn: these are page views. Only published
postmortems count; `user` None means everything.
"""

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import and_, case, func
from sqlmodel import select

from kb import accounts
from kb.changelog import Follower
from kb.db import per_engine
from kb.insights.snapshot import materialised
from kb.models import (
    OPEN_ACTION_STATUSES,
    SEVERITIES,
    ActionItem,
    Postmortem,
    ThemeRun,
)
from kb.months import month_start, next_month


def _at(day):
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _minutes(start, end):
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() / 60


# The figures of one incident, each counted from its start like the organisation's figures.
RESPONSE_TIMES = (
    ("Time to detect", "detected_at"),
    ("Time to mitigate", "mitigated_at"),
    ("Time to resolve", "resolved_at"),
)


def response_times(pm):
    """(label, minutes) of one postmortem's times to detect, mitigate and resolve, if known."""
    times = [(label, _minutes(pm.started_at, getattr(pm, end))) for label, end in RESPONSE_TIMES]
    return [(label, minutes) for label, minutes in times if minutes is not None]


def percentile(values, p):
    """The p-th percentile (0-100) interpolated like numpy's default; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values):
    """The median, or None for no values."""
    return percentile(values, 50)


def published(user):
    """The SQL condition for published postmortems `user` may see."""
    return and_(Postmortem.status == "published", accounts.visibility_filter(user))


@dataclass(frozen=True)
class MonthFigures:
    """One month's figures (the digest's numbers)."""

    month: date
    incidents_by_severity: dict[str, int]
    incidents: int
    near_misses: int
    game_days: int
    ttd_median_minutes: float | None
    ttr_median_minutes: float | None
    actions_done: int
    actions_total: int
    actions_overdue: int
    premortems: int = 0  # published for changes planned in the month
    after_premortem: int = 0  # incidents, near misses and game days naming a pre-mortem
    foreseen: int = 0  # those of them of which a risk listed by the pre-mortem materialised


def month_figures(session, user, month: date) -> MonthFigures:
    """The figures of one month: postmortems started in it, action items as at its end.

    Action items count for postmortems published up to the end of the month; `wont-do`
    items are decisions, not work, so they count in neither done nor total. Overdue means
    open or in progress with a due date before the end of the month.
    """
    first, end = month_start(month), next_month(month)
    # A pre-mortem counts in the month its change is planned for.
    month_of = func.coalesce(Postmortem.started_at, Postmortem.planned_at)
    rows = session.exec(
        select(
            Postmortem.kind,
            Postmortem.severity,
            Postmortem.started_at,
            Postmortem.detected_at,
            Postmortem.resolved_at,
            Postmortem.premortem,
            Postmortem.foreseen,
        ).where(
            published(user),
            month_of >= _at(first),
            month_of < _at(end),
        )
    ).all()
    kinds = Counter(row[0] for row in rows)
    covered = _covered(session, user, [row for row in rows if row[0] != "pre-mortem"])
    by_severity = dict.fromkeys(SEVERITIES, 0)
    ttd, ttr = [], []
    for kind, severity, started, detected, resolved, *_premortem in rows:
        if kind != "incident":
            continue
        if severity in by_severity:
            by_severity[severity] += 1
        for values, end_at in ((ttd, detected), (ttr, resolved)):
            minutes = _minutes(started, end_at)
            if minutes is not None:
                values.append(minutes)
    actions = _action_counts(session, user, end)
    return MonthFigures(
        month=first,
        incidents_by_severity=by_severity,
        incidents=kinds["incident"],
        near_misses=kinds["near-miss"],
        game_days=kinds["game-day"],
        ttd_median_minutes=median(ttd),
        ttr_median_minutes=median(ttr),
        actions_done=actions["done"],
        actions_total=actions["total"],
        actions_overdue=actions["overdue"],
        premortems=kinds["pre-mortem"],
        after_premortem=len(covered),
        foreseen=sum(materialised(row[6]) for row in covered),
    )


def _covered(session, user, rows):
    """The rows that name a published pre-mortem `user` may see."""
    refs = {row[5].lower() for row in rows if row[5]}
    if not refs:
        return []
    seen = {
        ref.lower()
        for ref in session.exec(
            select(Postmortem.ref).where(
                published(user),
                Postmortem.kind == "pre-mortem",
                func.lower(Postmortem.ref).in_(sorted(refs)),
            )
        )
    }
    return [row for row in rows if row[5] and row[5].lower() in seen]


def _action_counts(session, user, end):
    """Action items of postmortems published before `end`: done, total (no wont-do), overdue."""
    overdue = and_(ActionItem.status.in_(OPEN_ACTION_STATUSES), ActionItem.due < end)
    done, total, late = session.exec(
        select(
            func.coalesce(func.sum(case((ActionItem.status == "done", 1), else_=0)), 0),
            func.count(),
            func.coalesce(func.sum(case((overdue, 1), else_=0)), 0),
        )
        .join(Postmortem, Postmortem.id == ActionItem.postmortem_id)
        .where(
            published(user),
            Postmortem.published_at < _at(end),
            ActionItem.status != "wont-do",
        )
    ).one()  # counted by the database: a month over 50,000 postmortems has ~100,000 items
    return {"done": int(done), "total": int(total), "overdue": int(late)}


class _Memo:
    """Computations of one database in this process, and the change-log follower that says
    when they are out of date."""

    def __init__(self):
        self.lock = threading.Lock()
        self.follower = Follower()
        self.entries = {}


# One memo per engine (database), so that two databases in one process never mix.
_memo_of = per_engine(_Memo)
CACHE_SIZE = 256


def memo(session, user, key, compute):
    """compute(), or what it gave last time for the same scope, key and data version.

    For derived views that read many rows (the themes page's quotes, services and action
    items): they are recomputed after any save of a postmortem (the change log, gaps
    included) or rebuild of the themes, never in between. Callers must treat the result as
    read-only.
    """
    state = _memo_of(session.get_bind())
    with state.lock:
        state.follower.changed(session)
        run = session.exec(
            select(ThemeRun.id, ThemeRun.revision).order_by(ThemeRun.id.desc()).limit(1)
        ).first()
        run = tuple(run) if run is not None else None
        full_key = (accounts.scope_of(user), key, state.follower.generation, run)
        found = state.entries.get(full_key)
    if found is None:
        found = compute()  # outside the lock: other keys need not wait for this one
        with state.lock:
            if len(state.entries) >= CACHE_SIZE:
                state.entries.pop(next(iter(state.entries)))
            state.entries[full_key] = found
    return found
