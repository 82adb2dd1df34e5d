"""The figures dashboard: many months at once, computed with numpy from this process's
snapshot of the published postmortems (kb.insights.snapshot), through visibility."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from sqlmodel import select

from kb import accounts
from kb.insights import labels, snapshot
from kb.models import ACTION_STATUSES, KINDS, OPEN_ACTION_STATUSES, SEVERITIES, Postmortem, Theme
from kb.months import month_index, months_between


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
    premortems: int = 0
    after_premortem: int = 0  # incidents, near misses and game days naming a pre-mortem
    foreseen: int = 0  # those of them of which a risk listed by the pre-mortem materialised

    @property
    def change_share(self):
        """The share of incidents triggered by a change (deploy or config), or None."""
        return self.change_triggered / self.incidents if self.incidents else None

    @property
    def foreseen_share(self):
        """The share of the postmortems after a pre-mortem that one of its risks foresaw."""
        return self.foreseen / self.after_premortem if self.after_premortem else None


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

    @property
    def premortems(self):
        """Pre-mortems published for changes planned in the range."""
        return sum(m.premortems for m in self.months)

    @property
    def after_premortem(self):
        """Incidents, near misses and game days in the range that name a pre-mortem."""
        return sum(m.after_premortem for m in self.months)

    @property
    def foreseen(self):
        """Those of them that a risk listed by their pre-mortem foresaw."""
        return sum(m.foreseen for m in self.months)

    @property
    def foreseen_share(self):
        """The share of the postmortems after a pre-mortem that their pre-mortem foresaw."""
        return self.foreseen / self.after_premortem if self.after_premortem else None


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
    visible = snap.visible(scope)
    in_range = visible & (month >= m0) & (month < m0 + len(months))
    columns["covered"] = snap.covered(visible)
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
    covered = picked["covered"][selected] & (kind != KINDS.index("pre-mortem"))
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
        premortems=by_kind["pre-mortem"],
        after_premortem=int(covered.sum()),
        foreseen=int((covered & picked["foreseen"][selected]).sum()),
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
