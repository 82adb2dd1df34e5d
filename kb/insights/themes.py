"""Recurring themes: rebuild them from the published factors, store them, read them back.

The rebuild (`kb themes rebuild`) fits models and writes rows; everything else here reads
those rows joined with the postmortems through the visibility rule at request time (by SQL,
or from the in-memory snapshot of kb.insights.snapshot for the themes page's numbers), so a
restricted factor is never quoted, counted or named to someone who may not see it.
"""

import copy
import hashlib
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import and_, delete, func
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import select

from kb import accounts
from kb.insights import features, labels, snapshot
from kb.insights.clustering import label_for, main_category
from kb.insights.kpis import (
    memo,
    published,
)
from kb.insights.sqldates import sql_month
from kb.models import (
    ACTION_STATUSES,
    SEVERITIES,
    ActionItem,
    Factor,
    Label,
    Postmortem,
    Theme,
    ThemeFactor,
    ThemeRun,
    utcnow,
)
from kb.months import month_start, months_between, next_month, shift_month

RECURRING = 2  # a theme is recurring when it spans at least this many postmortems
TREND_MONTHS = 6  # trends compare a month with the average of this many months before it


# --- reading ------------------------------------------------------------------------------


@dataclass
class ThemeView:
    """A stored theme as one user sees it: only the factors they may see count."""

    id: int
    label: str
    terms: list[str]
    private_label: bool = False
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


def _members(session, user, theme_ids=None, until=None):
    """A query on ThemeFactor joined with the postmortems `user` may see (published)."""
    query = sa_select().select_from(ThemeFactor)
    query = query.join(Postmortem, Postmortem.id == ThemeFactor.postmortem_id).where(
        published(user)
    )
    if theme_ids is not None:
        query = query.where(ThemeFactor.theme_id.in_(list(theme_ids)))
    if until is not None:
        query = query.where(Postmortem.started_at < until)
    return query


def _aggregate(session, user, theme_ids=None, until=None):
    """ThemeViews with at least one visible factor, keyed by id, counted by the database."""
    base = _members(session, user, theme_ids, until)
    month = sql_month(session, Postmortem.started_at)
    by_month = session.exec(
        base.add_columns(ThemeFactor.theme_id, month, func.count()).group_by(
            ThemeFactor.theme_id, month
        )
    ).all()
    if not by_month:
        return {}
    ids = {row[0] for row in by_month}
    views = {
        t.id: ThemeView(id=t.id, label=t.label, terms=list(t.terms), private_label=t.private_label)
        for t in session.exec(select(Theme).where(Theme.id.in_(ids))).all()
    }
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


def _quotable(session, user, theme_id, limit):
    """The theme's visible factors, most central first: (factor, postmortem) columns."""
    query = _members(session, user, [theme_id]).add_columns(
        Factor.id,
        Factor.text,
        Factor.position,
        Factor.category,
        Postmortem.id,
        Postmortem.ref,
        Postmortem.title,
        Postmortem.severity,
        Postmortem.started_at,
    )
    query = query.join(Factor, Factor.id == ThemeFactor.factor_id)
    query = query.order_by(ThemeFactor.score.desc(), ThemeFactor.factor_id)
    if limit is not None:
        query = query.limit(limit)
    return session.exec(query).all()


def _relabel_where_hidden(session, user, views):
    """Label from what `user` sees each theme whose stored label they may not be shown."""
    for theme_id in labels.hidden_labels(session, user, views):
        if theme_id in views:
            _relabel_from_visible(session, user, views[theme_id])


def _relabel_from_visible(session, user, view):
    """Label a theme whose stored label quotes restricted words from what `user` sees."""
    rows = _quotable(session, user, view.id, 50)
    visible = [row[1] for row in rows]
    counted = Counter(term for text in visible for term in set(features.tokens(text)))
    shown = features.surface_forms(visible)
    top = [t for t, _n in sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:6]]
    view.terms = [shown.get(t, t) for t in top]
    view.label = _label(view.terms, main_category([row[3] for row in rows]))


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
    views = {
        t.id: ThemeView(id=t.id, label=t.label, terms=list(t.terms), private_label=t.private_label)
        for t in session.exec(select(Theme).where(Theme.id.in_(np.unique(ids).tolist()))).all()
    }
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


MAX_QUOTES = 200  # on a theme's own page; its size says how many more there are


def get_theme(session, user, theme_id):
    """One theme with its visible factors quoted, services and action items; None if unseen."""
    view = _aggregate(session, user, theme_ids=[theme_id]).get(theme_id)
    if view is None:
        return None
    add_details([view], session, user, quotes=MAX_QUOTES, list_actions=True)
    return view


def add_details(views, session, user, *, quotes=3, list_actions=False):
    """Fill in quotes (one per postmortem first, most central first), services and actions.

    Every query joins the postmortems through the visibility filter again.
    """
    if not views:
        return views
    for view in views:
        view.quotes, view.services, view.actions = [], [], []
        view.actions_done = view.actions_total = 0
    wanted = list(views)
    for view in views:
        key = ("details", view.id, quotes, list_actions)
        found = _detail_cache(session, user).get(key)
        if found is not None:
            _apply(view, found)
            wanted.remove(view)
    _compute_details(wanted, session, user, quotes=quotes, list_actions=list_actions)
    for view in wanted:
        _detail_cache(session, user)[("details", view.id, quotes, list_actions)] = _taken(view)
    return views


def _detail_cache(session, user):
    """The details already computed for this scope and data version (see kpis.memo): a
    dict that fills up as themes are shown, dropped with the version it belongs to."""
    return memo(session, user, ("theme details",), dict)


def _taken(view):
    return copy.deepcopy(
        (view.quotes, view.services, view.actions, view.actions_done, view.actions_total)
    )


def _apply(view, found):
    quotes, services, actions, done, total = copy.deepcopy(found)
    view.quotes, view.services, view.actions = quotes, services, actions
    view.actions_done, view.actions_total = done, total


def _compute_details(views, session, user, *, quotes, list_actions):
    if not views:
        return
    for view in views:
        rows = _quotable(session, user, view.id, None if quotes is None else quotes * 4 + 20)
        # Quote one factor per postmortem first, so the quotes show the spread of incidents.
        seen, first_pass, rest = set(), [], []
        for row in rows:
            (rest if row[4] in seen else first_pass).append(row)
            seen.add(row[4])
        ordered = first_pass + rest
        view.quotes = [
            {
                "text": text,
                "ref": ref,
                "title": title,
                "index": position,
                "severity": severity,
                "started_at": started,
                "category": category,
            }
            for _id, text, position, category, _pm, ref, title, severity, started in (
                ordered if quotes is None else ordered[:quotes]
            )
        ]
    by_id = {v.id: v for v in views}
    if not list_actions:
        _count_services_and_actions(session, user, by_id)
        return
    service = aliased(Label)  # not correlated with the visibility filter's own Label
    pms = func.count(ThemeFactor.postmortem_id.distinct())
    for theme_id, value, count in session.exec(
        _members(session, user, by_id)
        .add_columns(ThemeFactor.theme_id, service.value, pms)
        .join(service, service.postmortem_id == ThemeFactor.postmortem_id)
        .where(service.field == "services")
        .group_by(ThemeFactor.theme_id, service.value)
        .order_by(ThemeFactor.theme_id, pms.desc(), service.value)
    ).all():
        by_id[theme_id].services.append((value, count))
    linked = (
        _members(session, user, by_id)
        .join(Factor, Factor.id == ThemeFactor.factor_id)
        .join(
            ActionItem,
            and_(
                ActionItem.postmortem_id == ThemeFactor.postmortem_id,
                ActionItem.factor == Factor.position,
            ),
        )
    )
    for theme_id, status, count in session.exec(
        linked.add_columns(ThemeFactor.theme_id, ActionItem.status, func.count()).group_by(
            ThemeFactor.theme_id, ActionItem.status
        )
    ).all():
        view = by_id[theme_id]
        view.actions_done += count if status == "done" else 0
        view.actions_total += count if status != "wont-do" else 0
    if list_actions:
        for theme_id, title, status, due, owner, ref in session.exec(
            linked.add_columns(
                ThemeFactor.theme_id,
                ActionItem.title,
                ActionItem.status,
                ActionItem.due,
                ActionItem.owner,
                Postmortem.ref,
            )
            .order_by(Postmortem.started_at.desc(), ActionItem.position)
            .limit(500)
        ).all():
            by_id[theme_id].actions.append(
                {"title": title, "status": status, "due": due, "owner": owner, "ref": ref}
            )


def _count_services_and_actions(session, user, by_id):
    """Services (by postmortems) and linked action items (done, total) of these themes, from
    the snapshot (kb.insights.snapshot): the numbers the SQL of _compute_details gives."""
    snap = snapshot.for_session(session)
    scope = accounts.scope_of(user)
    with snap.lock:
        snap.refresh(session)
        members = snap.themes.columns
        rows = snap.rows_of(snap.themes, snap.visible(scope))
        rows &= np.isin(members["theme"], list(by_id))
        slots = members["owner"][rows].astype(np.int64)
        theme = members["theme"][rows].astype(np.int64)
        position = members["position"][rows].astype(np.int64)
        # Services count postmortems: each (theme, postmortem) once.
        codes, span = snap.services.columns["code"].tolist(), snap.services.span
        per_service = Counter()
        for pair in np.unique(theme << 32 | slots).tolist():
            start, stop = span.get(pair & 0xFFFFFFFF, (0, 0))
            for code in codes[start:stop]:
                per_service[pair >> 32, snap.service_names[code]] += 1
        # Action items linked to a member factor: matched on (postmortem, factor position).
        actions = snap.actions.columns
        live = actions["owner"] >= 0
        factor = actions["factor"][live].astype(np.int64)
        keys = actions["owner"][live].astype(np.int64) << 32 | factor.clip(0)
        linked = factor >= 0
        member_keys = slots << 32 | position
        order = np.argsort(member_keys)
        found = np.searchsorted(member_keys[order], keys).clip(0, max(len(order) - 1, 0))
        linked &= member_keys[order][found] == keys if len(order) else False
        statuses = actions["status"][live][linked]
        of_theme = theme[order][found[linked]]
    for (theme_id, name), count in sorted(
        per_service.items(), key=lambda i: (i[0][0], -i[1], i[0][1])
    ):
        by_id[theme_id].services.append((name, count))
    done, wont = ACTION_STATUSES.index("done"), ACTION_STATUSES.index("wont-do")
    for theme_id, status in zip(of_theme.tolist(), statuses.tolist(), strict=True):
        by_id[theme_id].actions_done += status == done
        by_id[theme_id].actions_total += status != wont


def factor_refs(session, user):
    """{theme id: [(ref, factor position)]} of every factor `user` may see, for the API."""
    out = defaultdict(list)
    for theme_id, ref, position in session.exec(
        _members(session, user)
        .add_columns(ThemeFactor.theme_id, Postmortem.ref, Factor.position)
        .join(Factor, Factor.id == ThemeFactor.factor_id)
        .order_by(ThemeFactor.theme_id, Postmortem.ref, Factor.position)
    ).all():
        out[theme_id].append((ref, position))
    return out


@dataclass(frozen=True)
class ThemeTrend:
    """How a theme moved in one month (for the digest)."""

    id: int
    label: str
    terms: list[str]
    size: int
    postmortems: int
    this_month: int
    monthly_average: float
    is_new: bool
    is_growing: bool
    refs: list[str]


def is_growing(this_month, monthly_average):
    """At least two factors this month and half as many again as the usual month."""
    return this_month >= 2 and this_month >= 1.5 * monthly_average


def trending(session, user, month: date, limit=5) -> list[ThemeTrend]:
    """Recurring themes that are new or growing in `month`, biggest that month first.

    Counts are of factors `user` may see in published postmortems started up to the end of
    the month; `monthly_average` is over the TREND_MONTHS months before it. [] when no
    themes are stored.
    """
    first = month_start(month)
    end = next_month(first)
    until = datetime(end.year, end.month, 1, tzinfo=UTC)
    trends = []
    for view in _aggregate(session, user, until=until).values():
        if not view.recurring:
            continue
        this_month = view.per_month.get(first, 0)
        before = sum(
            view.per_month.get(shift_month(first, -i), 0) for i in range(1, TREND_MONTHS + 1)
        )
        average = before / TREND_MONTHS
        new = view.first == first
        growing = is_growing(this_month, average)
        if new or growing:
            trends.append((view, this_month, average, new, growing))
    trends.sort(key=lambda t: (-t[1], -t[0].size, t[0].id))
    out = []
    for view, this_month, average, new, growing in trends[:limit]:
        refs = session.exec(
            _members(session, user, [view.id], until)
            .add_columns(Postmortem.ref)
            .group_by(Postmortem.ref, Postmortem.started_at)
            .order_by(Postmortem.started_at.desc(), Postmortem.ref.desc())
            .limit(5)
        ).all()
        out.append(
            ThemeTrend(
                id=view.id,
                label=view.label,
                terms=view.terms,
                size=view.size,
                postmortems=view.postmortems,
                this_month=this_month,
                monthly_average=round(average, 2),
                is_new=new,
                is_growing=growing,
                refs=[row[0] for row in refs],
            )
        )
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


# --- rebuilding ---------------------------------------------------------------------------

METHOD_VERSION = "themes-2"  # change when the method changes, so the next rebuild reruns


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did; `changed` is False when nothing had changed since the last one."""

    changed: bool
    postmortems: int
    factors: int
    themes: int
    seconds: float
    method: str = ""


def fingerprint(session):
    """A digest of what themes are computed from: every published postmortem and version."""
    digest = hashlib.sha256(METHOD_VERSION.encode())
    rows = session.exec(
        select(Postmortem.id, Postmortem.version)
        .where(Postmortem.status == "published")
        .order_by(Postmortem.id)
    ).all()
    for pm_id, version in rows:
        digest.update(f"{pm_id}:{version};".encode())
    return digest.hexdigest()


def is_stale(session):
    """Whether published postmortems changed since the last rebuild (or none was made)."""
    run = last_run(session)
    return run is None or run.fingerprint != fingerprint(session)


def rebuild(session, *, force=False, progress=None, random_state=0) -> RebuildReport:
    """Recompute themes and the similar-incidents index from published postmortems.

    Cheap to call often: without `force` it does nothing when no published postmortem
    changed since the last run. `progress(step, total, message)` is told each step.
    Flushes, never commits.
    """
    from kb.insights import clustering, similar

    started = time.perf_counter()
    step = progress or (lambda *_args: None)
    digest = fingerprint(session)
    run = last_run(session)
    if not force and run is not None and run.fingerprint == digest:
        return RebuildReport(False, run.postmortems, run.factors, run.themes, 0.0, run.method)

    step(1, 5, "reading published postmortems")
    pms = session.exec(
        select(Postmortem.id, Postmortem.ref, Postmortem.title, Postmortem.summary)
        .where(Postmortem.status == "published")
        .order_by(Postmortem.ref)
    ).all()
    context = {pm_id: f"{title}. {summary}" for pm_id, _ref, title, summary in pms}
    factor_rows = session.exec(
        select(Factor.id, Factor.postmortem_id, Factor.text, Factor.category)
        .join(Postmortem, Postmortem.id == Factor.postmortem_id)
        .where(Postmortem.status == "published")
        .order_by(Postmortem.ref, Factor.position)
    ).all()
    internal = set(
        session.exec(
            select(Postmortem.id).where(
                Postmortem.status == "published", Postmortem.visibility == "internal"
            )
        ).all()
    )

    step(2, 5, f"clustering {len(factor_rows)} factors")
    # Every text tokenised once, for themes and the index; the written forms of terms are
    # counted from what everyone may read (the factors and contexts of internal postmortems).
    analyses = features.Analyses(
        shown={r[2] for r in factor_rows if r[1] in internal}
        | {context[pm_id] for pm_id in internal if pm_id in context}
    )
    result = clustering.cluster(
        [r[2] for r in factor_rows],
        [context[r[1]] for r in factor_rows],
        [r[3] or None for r in factor_rows],
        labelable=[r[1] in internal for r in factor_rows],
        random_state=random_state,
        analyze=analyses,
    )

    step(3, 5, f"storing {result.k} themes")
    theme_ids = _store_themes(session, factor_rows, result)

    step(4, 5, "indexing similar incidents")
    theme_of_pm = defaultdict(set)
    for row, label in zip(factor_rows, result.labels, strict=True):
        if label >= 0:
            theme_of_pm[row[1]].add(theme_ids[label])
    similar.build_index(session, pms, factor_rows, theme_of_pm, analyses, internal)

    step(5, 5, "done")
    seconds = round(time.perf_counter() - started, 3)
    session.add(
        ThemeRun(
            fingerprint=digest,
            built_at=utcnow(),
            postmortems=len(pms),
            factors=len(factor_rows),
            themes=result.k,
            seconds=seconds,
            method=result.method[:300],
        )
    )
    session.flush()
    return RebuildReport(True, len(pms), len(factor_rows), result.k, seconds, result.method)


def _store_themes(session, factor_rows, result):
    """Replace the stored themes; a theme keeps its id when it keeps most of its factors.

    Returns the stored id of each new theme number.
    """
    from sqlalchemy import insert

    previous = dict(session.exec(select(ThemeFactor.factor_id, ThemeFactor.theme_id)).all())
    members = defaultdict(list)
    for row, label in zip(factor_rows, result.labels, strict=True):
        if label >= 0:
            members[label].append(row[0])
    # Greedy matching by overlap: stable links (/themes/<id>) across rebuilds.
    overlaps = []
    for label, factor_ids in members.items():
        counted = Counter(previous[f] for f in factor_ids if f in previous)
        for old_id, count in counted.items():
            if count * 2 > len(factor_ids):
                overlaps.append((-count, label, old_id))
    reuse, used = {}, set()
    for _count, label, old_id in sorted(overlaps):
        if label not in reuse and old_id not in used:
            reuse[label] = old_id
            used.add(old_id)

    session.exec(delete(ThemeFactor))
    existing = {t.id: t for t in session.exec(select(Theme)).all()}
    for old_id, theme in existing.items():
        if old_id not in used:
            session.delete(theme)
    session.flush()
    ids = {}
    for label in range(result.k):
        terms = result.terms[label]
        values = {
            "label": _label(terms, result.categories[label]),
            "terms": terms,
            "size": len(members[label]),
            "rank": label,
            "private_label": bool(result.private_terms[label]),
        }
        theme = existing.get(reuse.get(label)) if label in reuse else None
        if theme is None:
            theme = Theme(**values)
            session.add(theme)
        else:
            for key, value in values.items():
                setattr(theme, key, value)
        session.flush()
        ids[label] = theme.id
    rows = [
        {
            "theme_id": ids[label],
            "factor_id": row[0],
            "postmortem_id": row[1],
            "score": round(score, 4),
        }
        for row, label, score in zip(factor_rows, result.labels, result.scores, strict=True)
        if label >= 0
    ]
    connection = session.connection()  # Core inserts: see similar.build_index
    for start in range(0, len(rows), 50_000):
        connection.execute(insert(ThemeFactor.__table__), rows[start : start + 50_000])
    return ids


def _label(terms, category):
    return label_for(terms, category)[:200]
