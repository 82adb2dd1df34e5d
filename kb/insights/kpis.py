"""The organisation's key figures, computed from published postmortems through visibility.

The dashboard is computed with numpy from this process's snapshot of the published
postmortems (kb.insights.snapshot); a month's figures for the digest by SQL. Never
scikit-learn: these are page views. Only published postmortems count; `user` None means
everything.
"""

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import and_, case, func
from sqlmodel import select

from kb import accounts
from kb.changelog import Follower
from kb.db import per_engine
from kb.insights import labels, snapshot
from kb.models import (
    ACTION_STATUSES,
    KINDS,
    OPEN_ACTION_STATUSES,
    SEVERITIES,
    ActionItem,
    Postmortem,
    Theme,
    ThemeRun,
)
from kb.months import month_index, month_start, months_between, next_month


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


def month_figures(session, user, month: date) -> MonthFigures:
    """The figures of one month: postmortems started in it, action items as at its end.

    Action items count for postmortems published up to the end of the month; `wont-do`
    items are decisions, not work, so they count in neither done nor total. Overdue means
    open or in progress with a due date before the end of the month.
    """
    first, end = month_start(month), next_month(month)
    rows = session.exec(
        select(
            Postmortem.kind,
            Postmortem.severity,
            Postmortem.started_at,
            Postmortem.detected_at,
            Postmortem.resolved_at,
        ).where(
            published(user),
            Postmortem.started_at >= _at(first),
            Postmortem.started_at < _at(end),
        )
    ).all()
    kinds = Counter(kind for kind, *_ in rows)
    by_severity = dict.fromkeys(SEVERITIES, 0)
    ttd, ttr = [], []
    for kind, severity, started, detected, resolved in rows:
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
    )


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


# --- the dashboard: many months at once ---------------------------------------------------


@dataclass(frozen=True)
class MonthRow:
    """One row of the dashboard's monthly table."""

    month: date
    by_severity: dict[str, int]
    by_kind: dict[str, int]
    ttd_median: float | None
    ttd_p90: float | None
    ttr_median: float | None
    ttr_p90: float | None
    publish_median_days: float | None
    change_triggered: int
    incidents: int

    @property
    def change_share(self):
        """The share of incidents triggered by a change (deploy or config), or None."""
        return self.change_triggered / self.incidents if self.incidents else None


@dataclass(frozen=True)
class Dashboard:
    """The figures of a range of months."""

    first: date
    last: date
    months: list[MonthRow]
    actions_done: int
    actions_open: int
    actions_overdue: int
    actions_wont_do: int
    top_services: list[tuple[str, int]]
    top_themes: list[tuple[int, str, int]] = field(default_factory=list)
    slowest: list[tuple[str, str, float]] = field(default_factory=list)

    @property
    def actions_total(self):
        """Action items that are work to do (every status but wont-do)."""
        return self.actions_done + self.actions_open

    @property
    def postmortems(self):
        """How many postmortems started in the range."""
        return sum(sum(m.by_kind.values()) for m in self.months)


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


def dashboard(session, user, first: date, last: date, today: date | None = None) -> Dashboard:
    """The figures of every month from `first` to `last` (inclusive), for `user`.

    Computed from this process's snapshot of the published postmortems (kept up to date
    through the change log, see kb.insights.snapshot), once per visibility scope and version
    of the data.
    """
    today = today or datetime.now(UTC).date()
    scope = accounts.scope_of(user)
    published_now = snapshot.for_session(session)
    with published_now.lock:
        published_now.refresh(session)
        return published_now.cached(
            ("dashboard", scope, first, last, today),
            lambda: compute_dashboard(session, published_now, scope, first, last, today),
        )


def compute_dashboard(session, snap, scope, first: date, last: date, today: date) -> Dashboard:
    """The figures of every month from `first` to `last` (inclusive) that `scope` may see,
    from snapshot `snap` (its lock held).

    Incidents count by the month they started in. Action items are those of the postmortems
    started in the range; overdue means open or in progress with a due date before `today`.
    """
    months = months_between(first, last)
    columns = {name: column[: snap.size] for name, column in snap.columns.items()}
    month = columns["month"]
    m0 = month_index(months[0])
    in_range = snap.visible(scope) & (month >= m0) & (month < m0 + len(months))
    picked = {name: column[in_range] for name, column in columns.items()}
    offset = picked["month"] - m0
    month_rows = [_month_row(day, picked, offset == k) for k, day in enumerate(months)]

    def of_range(children):
        return snap.rows_of(children, in_range)

    actions = snap.actions.columns
    rows = of_range(snap.actions)
    status, due = actions["status"][rows], actions["due"][rows]
    counts = dict(
        zip(
            ACTION_STATUSES,
            np.bincount(status[status >= 0], minlength=len(ACTION_STATUSES)).tolist(),
            strict=True,
        )
    )
    still_open = np.isin(status, [ACTION_STATUSES.index(s) for s in OPEN_ACTION_STATUSES])
    overdue = int((still_open & (due != snapshot.NO_DUE) & (due < today.toordinal())).sum())

    codes = snap.services.columns["code"][of_range(snap.services)]
    per_service = np.bincount(codes, minlength=len(snap.service_names)).tolist()
    services = sorted((-n, snap.service_names[code]) for code, n in enumerate(per_service) if n)[
        :10
    ]
    themes, per_theme = np.unique(
        snap.themes.columns["theme"][of_range(snap.themes)], return_counts=True
    )
    top_themes = sorted(zip((-per_theme).tolist(), themes.tolist(), strict=True))[:10]
    return Dashboard(
        first=months[0],
        last=months[-1],
        months=month_rows,
        actions_done=counts["done"],
        actions_open=counts["open"] + counts["in-progress"],
        actions_overdue=overdue,
        actions_wont_do=counts["wont-do"],
        top_services=[(name, -n) for n, name in services],
        top_themes=_theme_names(session, scope, [(theme_id, -n) for n, theme_id in top_themes]),
        slowest=_slowest(session, picked),
    )


def _slowest(session, picked, limit=5):
    """(ref, title, minutes) of the incidents that took longest to resolve: the p90's cause."""
    timed = (picked["kind"] == KINDS.index("incident")) & ~np.isnan(picked["ttr"])
    minutes, ids = np.round(picked["ttr"][timed], 3), picked["id"][timed]
    order = np.lexsort((ids, -minutes))[:limit]  # longest first; ties: older id first
    top = list(zip(minutes[order].tolist(), ids[order].tolist(), strict=True))
    names = {
        pm_id: (ref, title)
        for pm_id, ref, title in session.exec(
            select(Postmortem.id, Postmortem.ref, Postmortem.title).where(
                Postmortem.id.in_([pm_id for _m, pm_id in top])
            )
        ).all()
    }
    return [(*names[pm_id], minutes) for minutes, pm_id in top if pm_id in names]


def _figures(values):
    """(median, 90th percentile) of values (NaN and negative ones left out), rounded away
    from the float noise of the databases' date arithmetic (to 1/1000 minute)."""
    values = values[~np.isnan(values)]
    values = values[values >= 0]
    if not len(values):
        return None, None
    p50, p90 = np.percentile(values, [50, 90]).tolist()
    return round(p50, 3), round(p90, 3)


def _month_row(day, picked, selected):
    """Aggregate one month: the `selected` rows of the snapshot's columns `picked`."""
    kind = picked["kind"][selected]
    by_kind = dict(
        zip(KINDS, np.bincount(kind[kind >= 0], minlength=len(KINDS)).tolist(), strict=True)
    )
    incident = selected.copy()
    incident[selected] = kind == KINDS.index("incident")
    severity = picked["severity"][incident]
    counts = np.bincount(severity[severity >= 0], minlength=len(SEVERITIES)).tolist()
    ttd_median, ttd_p90 = _figures(picked["ttd"][incident])
    ttr_median, ttr_p90 = _figures(picked["ttr"][incident])
    publish_median, _p90 = _figures(picked["publish"][selected] / (60 * 24))
    return MonthRow(
        month=day,
        by_severity=dict(zip(SEVERITIES, counts, strict=True)),
        by_kind=by_kind,
        ttd_median=ttd_median,
        ttd_p90=ttd_p90,
        ttr_median=ttr_median,
        ttr_p90=ttr_p90,
        publish_median_days=publish_median,
        change_triggered=int(picked["change"][incident].sum()),
        incidents=by_kind["incident"],
    )


def _theme_names(session, scope, rows):
    """(id, label, count) for (theme id, count) rows, leaving out themes no longer stored."""
    themes = {
        t.id: t for t in session.exec(select(Theme).where(Theme.id.in_([r[0] for r in rows])))
    }
    # A label `scope` may not be shown (see kb.insights.labels) is not named.
    hidden = labels.hidden_labels(session, scope, themes)
    return [
        (
            theme_id,
            f"Theme #{theme_id} (restricted postmortems)"
            if theme_id in hidden
            else themes[theme_id].label,
            n,
        )
        for theme_id, n in rows
        if theme_id in themes
    ]
