"""Reading stored themes as one user sees them: the list, one theme, a postmortem's themes.

The rebuild (kb.insights.themes.rebuild) fits models and writes rows; this reads those rows
joined with the postmortems through the visibility rule at request time (by SQL, or from the
in-memory snapshot of kb.insights.snapshot for the themes page's numbers), so a restricted
factor is never quoted, counted or named to someone who may not see it.
"""

import copy
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import func
from sqlmodel import select

from kb import accounts
from kb.insights import features, labels, snapshot
from kb.insights.clustering import main_category
from kb.insights.kpis import (
    published,
)
from kb.insights.sqldates import sql_month
from kb.insights.themes import naming
from kb.insights.themes.details import MAX_QUOTES, add_details
from kb.insights.themes.members import RECURRING, central_factors, membership_query
from kb.models import (
    SEVERITIES,
    Factor,
    Postmortem,
    Theme,
    ThemeFactor,
    ThemeRun,
)
from kb.months import month_start, months_between, shift_month


@dataclass
class ThemeView:
    """A stored theme as one user sees it: only the factors they may see count."""

    id: int
    label: str
    terms: list[str]
    private_label: bool = False
    pinned: bool = False  # the label is an admin's
    size: int = 0
    postmortems: int = 0
    per_month: Counter = field(default_factory=Counter)
    severities: Counter = field(default_factory=Counter)
    first: date | None = None
    last: date | None = None
    quotes: list = field(default_factory=list)
    services: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    actions_done: int = 0
    actions_total: int = 0  # linked action items that are work (wont-do excluded)

    @property
    def recurring(self):
        """Whether the theme spans at least two postmortems (that this user may see)."""
        return self.postmortems >= RECURRING

    def sparkline(self, last_month, months=12):
        """Counts for the `months` months up to `last_month`, oldest first."""
        days = months_between(shift_month(month_start(last_month), -(months - 1)), last_month)
        return [(day, self.per_month.get(day, 0)) for day in days]

    def growth(self, month):
        """Factors in the 3 months up to `month` minus the 3 before, for ranking by growth."""
        recent = sum(self.per_month.get(shift_month(month, -i), 0) for i in range(3))
        before = sum(self.per_month.get(shift_month(month, -i), 0) for i in range(3, 6))
        return recent - before


def _aggregate(session, user, theme_ids=None, until=None):
    """ThemeViews with at least one visible factor, keyed by id, counted by the database."""
    base = membership_query(session, user, theme_ids, until)
    month = sql_month(session, Postmortem.started_at)
    by_month = session.exec(
        base.add_columns(ThemeFactor.theme_id, month, func.count()).group_by(
            ThemeFactor.theme_id, month
        )
    ).all()
    if not by_month:
        return {}
    ids = {row[0] for row in by_month}
    views = _views(session, ids)
    for theme_id, yyyymm, count in by_month:
        view = views.get(theme_id)
        if view is None:
            continue
        view.size += count
        if yyyymm:
            day = date(int(yyyymm[:4]), int(yyyymm[5:7]), 1)
            view.per_month[day] += count
            view.first = min(view.first or day, day)
            view.last = max(view.last or day, day)
    # Severities count postmortems, not factors: an incident with three factors is one.
    distinct = func.count(ThemeFactor.postmortem_id.distinct())
    for theme_id, severity, count in session.exec(
        base.add_columns(ThemeFactor.theme_id, Postmortem.severity, distinct).group_by(
            ThemeFactor.theme_id, Postmortem.severity
        )
    ).all():
        if theme_id in views:
            views[theme_id].severities[severity or "none"] += count
            views[theme_id].postmortems += count
    _relabel_where_hidden(session, user, views)
    return views


def _views(session, ids):
    """{theme id: an empty ThemeView} of the stored themes among `ids`."""
    return {
        t.id: ThemeView(
            id=t.id,
            label=t.label,
            terms=list(t.terms),
            private_label=t.private_label,
            pinned=t.pinned,
        )
        for t in session.exec(select(Theme).where(Theme.id.in_(ids))).all()
    }


def _relabel_where_hidden(session, user, views):
    """Label from what `user` sees each theme whose stored label they may not be shown."""
    for theme_id in labels.hidden_labels(session, user, views):
        if theme_id in views:
            _relabel_from_visible(session, user, views[theme_id])


def labels_as_seen(session, user, theme_ids):
    """{theme id: label} of these stored themes as `user` may be shown them: a label that
    quotes factors they may not see is made again from those they may."""
    ids = list(theme_ids)
    if not ids:
        return {}
    views = _views(session, ids)
    _relabel_where_hidden(session, user, views)
    return {theme_id: view.label for theme_id, view in views.items()}


def _relabel_from_visible(session, user, view):
    """Label a theme whose stored label quotes restricted words from what `user` sees."""
    rows = central_factors(session, user, view.id, 50)
    visible = [row[1] for row in rows]
    counted = Counter(term for text in visible for term in set(features.tokens(text)))
    shown = features.surface_forms(visible)
    top = [t for t, _n in sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:6]]
    view.terms = [shown.get(t, t) for t in top]
    if not view.pinned:  # an admin's label is written for everyone (kb.insights.themes.curation)
        run = last_run(session)
        view.label = naming.label_from_visible(
            visible,
            run.generic if run else [],
            view.terms,
            main_category([row[3] for row in rows]),
        )


def _aggregate_all(session, user):
    """Every theme's counts for `user`, as _aggregate gives them, from this process's
    snapshot of the published postmortems (kb.insights.snapshot): a view after a save
    re-reads that postmortem, not every membership. Read-only: callers copy."""
    published_now = snapshot.for_session(session)
    scope = accounts.scope_of(user)
    with published_now.lock:
        published_now.refresh(session)
        return published_now.cached(
            ("themes", scope), lambda: _count(session, user, published_now, scope)
        )


def _count(session, user, snap, scope):
    """{theme id: ThemeView} with the sizes, months and severities `scope` may see."""
    members = snap.themes.columns
    rows = snap.rows_of(snap.themes, snap.visible(scope))
    owners, ids = members["owner"][rows].astype(np.int64), members["theme"][rows].astype(np.int64)
    if not len(ids):
        return {}
    views = _views(session, np.unique(ids).tolist())
    for theme_id, size in zip(
        *(a.tolist() for a in np.unique(ids, return_counts=True)), strict=True
    ):
        if theme_id in views:
            views[theme_id].size = size
    month = snap.columns["month"][owners]
    dated = month >= 0
    keys, counts = np.unique(ids[dated] * 1_000_000 + month[dated], return_counts=True)
    for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
        view = views.get(key // 1_000_000)
        if view is not None:
            code = key % 1_000_000
            day = date(code // 12, code % 12 + 1, 1)
            view.per_month[day] += count
            view.first = min(view.first or day, day)
            view.last = max(view.last or day, day)
    # Severities count postmortems, not factors: an incident with three factors is one.
    pairs = np.unique(ids << 32 | owners)
    severity = snap.columns["severity"][pairs & 0xFFFFFFFF]
    keys, counts = np.unique((pairs >> 32) * 16 + (severity + 1), return_counts=True)
    for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
        view = views.get(key // 16)
        if view is not None:
            code = key % 16 - 1
            view.severities[SEVERITIES[code] if code >= 0 else "none"] += count
            view.postmortems += count
    _relabel_where_hidden(session, user, views)
    return views


def list_themes(session, user, *, today=None, sort="size", recurring_only=False):
    """Themes visible to `user`: recurring ones first, then by size (or growth), then id."""
    month = month_start(today or datetime.now(UTC).date())
    stored = _aggregate_all(session, user)
    views = [copy.deepcopy(v) for v in stored.values()]
    if recurring_only:
        views = [v for v in views if v.recurring]
    if sort == "growth":
        views.sort(key=lambda v: (not v.recurring, -v.growth(month), -v.size, v.id))
    else:
        views.sort(key=lambda v: (not v.recurring, -v.size, -v.growth(month), v.id))
    return views


def get_theme(session, user, theme_id):
    """One theme with its visible factors quoted, services and action items; None if unseen."""
    view = _aggregate(session, user, theme_ids=[theme_id]).get(theme_id)
    if view is None:
        return None
    add_details([view], session, user, quotes=MAX_QUOTES, list_actions=True)
    return view


def factor_refs(session, user):
    """{theme id: [(ref, factor position)]} of every factor `user` may see, for the API."""
    out = defaultdict(list)
    for theme_id, ref, position in session.exec(
        membership_query(session, user)
        .add_columns(ThemeFactor.theme_id, Postmortem.ref, Factor.position)
        .join(Factor, Factor.id == ThemeFactor.factor_id)
        .order_by(ThemeFactor.theme_id, Postmortem.ref, Factor.position)
    ).all():
        out[theme_id].append((ref, position))
    return out


def last_run(session):
    """The most recent rebuild, or None."""
    return session.exec(select(ThemeRun).order_by(ThemeRun.id.desc()).limit(1)).first()


def theme_of_factors(session, user, factor_ids):
    """{factor id: (theme id, label)} for visible factors that belong to a theme."""
    if not factor_ids:
        return {}
    rows = session.exec(
        select(ThemeFactor.factor_id, Theme.id, Theme.label)
        .join(Theme, Theme.id == ThemeFactor.theme_id)
        .join(Postmortem, Postmortem.id == ThemeFactor.postmortem_id)
        .where(ThemeFactor.factor_id.in_(factor_ids), published(user))
    ).all()
    # A label `user` may not be shown (see kb.insights.labels) is not named here.
    hidden = labels.hidden_labels(session, user, {t for _f, t, _label in rows})
    return {f: (t, label) for f, t, label in rows if t not in hidden}
