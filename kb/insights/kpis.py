"""The organisation's key figures, computed from published postmortems through visibility.

Plain SQL and Python (no numpy): the figures dashboard is a page view and must not pay for
importing scikit-learn. Only published postmortems count; `user` None means everything.
"""

import heapq
import weakref
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import and_, case, func
from sqlalchemy.orm import aliased
from sqlmodel import select

from kb import accounts
from kb.models import (
    SEVERITIES,
    ActionItem,
    Change,
    Label,
    Postmortem,
    Theme,
    ThemeFactor,
    ThemeRun,
)

CHANGE_TRIGGERS = ("deploy", "config-change")
OPEN_STATUSES = ("open", "in-progress")


def month_start(day):
    """The first day of the month of `day`."""
    return date(day.year, day.month, 1)


def next_month(day):
    """The first day of the month after the month of `day`."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def months_between(first, last):
    """Every month from `first` to `last` inclusive, as first days."""
    months, day = [], month_start(first)
    while day <= month_start(last):
        months.append(day)
        day = next_month(day)
    return months


def _at(day):
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _minutes(start, end):
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() / 60


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
    overdue = and_(ActionItem.status.in_(OPEN_STATUSES), ActionItem.due < end)
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


def sql_month(session, column):
    """The YYYY-MM of a timestamp, computed by the database."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m", column)
    return func.to_char(column, "YYYY-MM")


def sql_minutes(session, start, end):
    """Minutes from `start` to `end`, computed by the database (NULL if either is)."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 1440.0
    return func.extract("epoch", end - start) / 60.0


# Dashboards already computed, by (scope, range, today, data version): a worker serves the
# same figures again without reading tens of thousands of rows, until published data change.
# One cache per engine (database), so that two databases in one process never mix.
_CACHES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
CACHE_SIZE = 256


def _data_version(session):
    """What the figures depend on: the change log (every save of a postmortem, in the same
    transaction, including status, visibility and action-item changes) and the themes."""
    changed = session.exec(select(func.max(Change.id))).one()
    run = session.exec(select(func.max(ThemeRun.id))).one()
    return changed, run


def memo(session, user, key, compute):
    """compute(), or what it gave last time for the same scope, key and data version.

    For derived views that read tens of thousands of rows (figures, theme counts): they are
    recomputed after any save of a postmortem or rebuild of the themes, never in between.
    Callers must treat the result as read-only.
    """
    cache = _CACHES.setdefault(session.get_bind(), {})
    full_key = (accounts.scope_of(user), key, _data_version(session))
    found = cache.get(full_key)
    if found is None:
        found = compute()
        if len(cache) >= CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[full_key] = found
    return found


def dashboard(session, user, first: date, last: date, today: date | None = None) -> Dashboard:
    """The figures of every month from `first` to `last` (inclusive), for `user`.

    Computed once per visibility scope and version of the data (the last change-log entry
    and theme rebuild), then served from a small in-process cache (see memo).
    """
    today = today or datetime.now(UTC).date()
    return memo(
        session,
        user,
        ("dashboard", first, last, today),
        lambda: compute_dashboard(session, user, first, last, today),
    )


def compute_dashboard(session, user, first: date, last: date, today: date) -> Dashboard:
    """The figures of every month from `first` to `last` (inclusive), for `user`, computed.

    Incidents count by the month they started in. Action items are those of the postmortems
    started in the range; overdue means open or in progress with a due date before `today`.
    The database computes months and durations, so no timestamp is converted in Python
    (the dashboard reads tens of thousands of rows), and the rows are read through Core.
    """
    months = months_between(first, last)
    start, end = _at(months[0]), _at(next_month(months[-1]))
    in_range = and_(published(user), Postmortem.started_at >= start, Postmortem.started_at < end)
    started = Postmortem.started_at
    connection = session.connection()
    rows = connection.execute(
        select(
            sql_month(session, started),
            Postmortem.kind,
            Postmortem.severity,
            Postmortem.trigger,
            sql_minutes(session, started, Postmortem.detected_at),
            sql_minutes(session, started, Postmortem.resolved_at),
            sql_minutes(session, Postmortem.resolved_at, Postmortem.published_at),
            Postmortem.id,
        ).where(in_range)
    ).all()
    buckets = defaultdict(list)
    for row in rows:
        buckets[row[0]].append(row)
    month_rows = [_month_row(day, buckets.get(day.strftime("%Y-%m"), [])) for day in months]

    actions = Counter()
    overdue = and_(ActionItem.status.in_(OPEN_STATUSES), ActionItem.due < today)
    in_range_ids = select(Postmortem.id).where(in_range)
    for status, late, count in connection.execute(
        select(ActionItem.status, overdue, func.count())
        .where(ActionItem.postmortem_id.in_(in_range_ids))
        .group_by(ActionItem.status, overdue)
    ).all():
        actions[status] += count
        if late:
            actions["overdue"] += count

    # An alias: the visibility filter's own EXISTS over Label must not correlate with this.
    service = aliased(Label)
    services = connection.execute(
        select(service.value, func.count())
        .where(service.postmortem_id.in_(in_range_ids), service.field == "services")
        .group_by(service.value)
        .order_by(func.count().desc(), service.value)
        .limit(10)
    ).all()
    return Dashboard(
        first=months[0],
        last=months[-1],
        months=month_rows,
        actions_done=actions["done"],
        actions_open=actions["open"] + actions["in-progress"],
        actions_overdue=actions["overdue"],
        actions_wont_do=actions["wont-do"],
        top_services=[(name, count) for name, count in services],
        top_themes=_top_themes(session, in_range_ids),
        slowest=_slowest(session, rows),
    )


def _slowest(session, rows, limit=5):
    """(ref, title, minutes) of the incidents that took longest to resolve: the p90's cause."""
    timed = [(round(r[5], 3), r[7]) for r in rows if r[1] == "incident" and r[5] is not None]
    top = heapq.nlargest(limit, timed, key=lambda t: (t[0], -t[1]))  # ties: older id first
    names = dict(
        (pm_id, (ref, title))
        for pm_id, ref, title in session.exec(
            select(Postmortem.id, Postmortem.ref, Postmortem.title).where(
                Postmortem.id.in_([pm_id for _m, pm_id in top])
            )
        ).all()
    )
    return [(*names[pm_id], float(minutes)) for minutes, pm_id in top if pm_id in names]


def _rounded(value):
    """Round away the float noise of the databases' date arithmetic (to 1/1000 minute)."""
    return None if value is None else round(float(value), 3)


def _month_row(day, rows):
    """Aggregate one month: rows of (month, kind, severity, trigger, ttd, ttr, publish, id),
    durations in minutes."""
    by_severity = dict.fromkeys(SEVERITIES, 0)
    by_kind = {"incident": 0, "near-miss": 0, "game-day": 0}
    ttd, ttr, publish, changes = [], [], [], 0
    for _month, kind, severity, trigger, detect, resolve, to_publish, _id in rows:
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if to_publish is not None and to_publish >= 0:
            publish.append(to_publish / (60 * 24))
        if kind != "incident":
            continue
        if severity in by_severity:
            by_severity[severity] += 1
        changes += trigger in CHANGE_TRIGGERS
        if detect is not None and detect >= 0:
            ttd.append(detect)
        if resolve is not None and resolve >= 0:
            ttr.append(resolve)
    return MonthRow(
        month=day,
        by_severity=by_severity,
        by_kind=by_kind,
        ttd_median=_rounded(median(ttd)),
        ttd_p90=_rounded(percentile(ttd, 90)),
        ttr_median=_rounded(median(ttr)),
        ttr_p90=_rounded(percentile(ttr, 90)),
        publish_median_days=_rounded(median(publish)),
        change_triggered=changes,
        incidents=by_kind["incident"],
    )


def _top_themes(session, in_range_ids, limit=10):
    """Themes by how many visible factors of postmortems in the range they hold."""
    count = func.count()
    rows = session.exec(
        select(ThemeFactor.theme_id, count)
        .where(ThemeFactor.postmortem_id.in_(in_range_ids))
        .group_by(ThemeFactor.theme_id)
        .order_by(count.desc(), ThemeFactor.theme_id)
        .limit(limit)
    ).all()
    themes = {
        t.id: t for t in session.exec(select(Theme).where(Theme.id.in_([r[0] for r in rows])))
    }
    # A theme labelled from restricted words is not named by its stored label.
    return [
        (
            theme_id,
            f"Theme #{theme_id} (restricted postmortems)"
            if themes[theme_id].private_label
            else themes[theme_id].label,
            n,
        )
        for theme_id, n in rows
        if theme_id in themes
    ]
