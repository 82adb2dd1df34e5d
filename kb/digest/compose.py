"""What the digest of one month says to one reader: a Digest, built through their visibility.

Everything is read through `accounts.visibility_filter` for the reader's Scope, and only
published postmortems count. Figures and themes come from kb.insights (month_figures and
trending); this module only chooses, orders and links.
"""

from collections import Counter, defaultdict
from datetime import UTC, date, datetime

from sqlalchemy import case
from sqlalchemy.orm import selectinload
from sqlmodel import select

from kb import accounts, postmortems
from kb.accounts import Scope
from kb.digest import anticipating
from kb.digest.links import external, first_link
from kb.digest.model import (
    Action,
    Digest,
    Entry,
    Figure,
    Recommendation,
    TeamActions,
    Theme,
)
from kb.insights.kpis import MonthFigures, month_figures
from kb.insights.themes import trending
from kb.markdown import first_sentence, plain_text
from kb.models import (
    OPEN_ACTION_STATUSES,
    SEVERITIES,
    ActionItem,
    Factor,
    Label,
    Membership,
    Postmortem,
    ThemeFactor,
)
from kb.months import month_key, month_start, next_month, previous_month

MAX_POSTMORTEMS = 20  # incidents listed in full; more are counted and linked
MAX_PRACTICE = 10  # near-misses and game days
MAX_TEAMS = 12  # teams in the action-item section
ACTIONS_PER_TEAM = 3  # items named per team; the rest are counted
# The internal-only version, for distribution lists: nobody's address, no team.
INTERNAL_ONLY = Scope(email="", teams=())


def _at(day):
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# --- composing ----------------------------------------------------------------------------


def compose(session, viewer, month: date) -> Digest:
    """The digest of `month` for `viewer`: a User, a Scope, or INTERNAL_ONLY for lists."""
    scope = viewer if isinstance(viewer, Scope) else accounts.scope_of(viewer)
    month = month_start(month)
    published = _published(session, scope, month)
    incidents, incidents_total, practice, practice_counts, premortems, premortems_total = published
    themes = _themes(session, scope, month)
    actions, overdue, due_soon = _actions(session, scope, month)
    figures = month_figures(session, scope, month)
    previous = month_figures(session, scope, previous_month(month))
    return Digest(
        month=month,
        internal_only=scope == INTERNAL_ONLY,
        incidents=tuple(incidents),
        incidents_total=incidents_total,
        practice=tuple(practice),
        practice_counts=practice_counts,
        themes=tuple(themes),
        actions=tuple(actions),
        actions_overdue=overdue,
        actions_due_next_month=due_soon,
        figures=figures,
        previous_figures=previous,
        key_figures=tuple(key_figures(figures, previous)),
        recommended=_recommend(session, scope, month, incidents, themes),
        links=_links(month),
        premortems=tuple(premortems),
        premortems_total=premortems_total,
        foreseen=tuple(anticipating.foreseen(session, scope, month, _entry)),
    )


def _links(month):
    return {
        "digest": external("digest.preview", month=month_key(month)),
        "postmortems": external("postmortems.index", status="published"),
        "actions": external("actions.index"),
        "themes": external("themes.index"),
        "figures": external("figures.index"),
        "settings": external("digest.settings"),
    }


def _severity_rank(severity):
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _entry(pm):
    return Entry(
        ref=pm.ref,
        title=pm.title,
        kind=pm.kind,
        severity=pm.severity,
        restricted=pm.visibility == "restricted",
        summary=first_sentence(pm.summary or pm.change),  # a pre-mortem: its change
        lesson=key_lesson(pm.lessons),
        teams=tuple(pm.label_values("teams")),
        services=tuple(pm.label_values("services")),
        published_at=pm.published_at,
        url=external("postmortems.show", ref=pm.ref) or "",
    )


def key_lesson(lessons):
    """The first lesson of a lessons section (its first list item or sentence), or ''."""
    lines = plain_text(lessons).splitlines()
    return first_sentence(lines[0]) if lines else ""


def _published(session, scope, month):
    """This month's published incidents, and its near-misses and game days, most severe first.

    Sorting needs only a few columns; whole postmortems are loaded only for those listed
    (a big organisation publishes hundreds a month).
    """
    rows = session.exec(
        select(Postmortem.id, Postmortem.kind, Postmortem.severity, Postmortem.published_at)
        .where(
            Postmortem.status == "published",
            accounts.visibility_filter(scope),
            Postmortem.published_at >= _at(month),
            Postmortem.published_at < _at(next_month(month)),
        )
        .order_by(Postmortem.ref)
    ).all()
    rows = sorted(rows, key=lambda r: (_severity_rank(r.severity), r.published_at))
    incidents = [r.id for r in rows if r.kind == "incident"]
    practice = [r.id for r in rows if r.kind in ("near-miss", "game-day")]
    premortems = [r.id for r in rows if r.kind == "pre-mortem"]
    shown = incidents[:MAX_POSTMORTEMS] + practice[:MAX_PRACTICE] + premortems[:MAX_PRACTICE]
    loaded = {
        pm.id: pm
        for pm in session.exec(
            select(Postmortem)
            .where(Postmortem.id.in_(shown))
            .options(selectinload(Postmortem.labels))
        ).all()
    }
    kinds = Counter(r.kind for r in rows)
    return (
        [_entry(loaded[i]) for i in incidents[:MAX_POSTMORTEMS]],
        len(incidents),
        [_entry(loaded[i]) for i in practice[:MAX_PRACTICE]],
        {"near-miss": kinds["near-miss"], "game-day": kinds["game-day"]},
        [_entry(loaded[i]) for i in premortems[:MAX_PRACTICE]],
        len(premortems),
    )


def _themes(session, scope, month):
    def link(theme):
        return first_link(("themes.show", {"theme_id": theme.id}), ("themes.index", {}))

    return [
        Theme(
            id=t.id,
            label=t.label,
            terms=tuple(t.terms),
            this_month=t.this_month,
            monthly_average=t.monthly_average,
            postmortems=t.postmortems,
            is_new=t.is_new,
            is_growing=t.is_growing,
            refs=tuple(t.refs),
            url=link(t),
        )
        for t in trending(session, scope, month)
        if t.is_new or t.is_growing
    ]


def _actions(session, scope, month):
    """Open action items overdue at the month's end or due next month, grouped by team.

    The team is the owner when the owner names a known team, otherwise the postmortem's
    first team. Overdue uses the same rule as the figures: open or in progress, due before
    the end of the month. Status is the item's status now (no history is kept).
    """
    end = next_month(month)
    horizon = next_month(end)
    first_team = (
        select(Label.value)
        .where(Label.postmortem_id == Postmortem.id, Label.field == "teams")
        .order_by(Label.position)
        .limit(1)
        .scalar_subquery()
    )
    rows = session.exec(
        select(
            ActionItem.title,
            ActionItem.owner,
            ActionItem.due,
            ActionItem.status,
            Postmortem.ref,
            first_team,
        )
        .join(Postmortem, Postmortem.id == ActionItem.postmortem_id)
        .where(
            Postmortem.status == "published",
            accounts.visibility_filter(scope),
            ActionItem.status.in_(OPEN_ACTION_STATUSES),
            ActionItem.due.is_not(None),
            ActionItem.due < horizon,
        )
        .order_by(ActionItem.due, Postmortem.ref, ActionItem.position)
    ).all()
    teams = _known_teams(session, scope)
    by_team = defaultdict(list)
    for title, owner, due, status, ref, pm_team in rows:
        owner_team = owner.strip().lower() if owner else ""
        team = owner_team if owner_team in teams else (pm_team or "no team")
        by_team[team].append((title, owner, due, status, ref, due < end))
    groups = []
    for team, items in by_team.items():
        overdue = sum(1 for item in items if item[5])
        named = [
            Action(
                title=title,
                owner=owner,
                due=due,
                status=status,
                overdue=is_overdue,
                ref=ref,
                url=external("postmortems.show", ref=ref) or "",
            )
            for title, owner, due, status, ref, is_overdue in items[:ACTIONS_PER_TEAM]
        ]
        url = external("actions.index", team=team) if team != "no team" else None
        groups.append(TeamActions(team, overdue, len(items) - overdue, tuple(named), url))
    groups.sort(key=lambda g: (-g.overdue, -g.due_next_month, g.team))
    total_overdue = sum(g.overdue for g in groups)
    total_soon = sum(g.due_next_month for g in groups)
    return groups[:MAX_TEAMS], total_overdue, total_soon


def _known_teams(session, scope):
    """Team names in use: on postmortems `scope` may see and in memberships (owners may
    name a team)."""
    labelled = postmortems.label_values(session, scope, ("teams",))["teams"]
    members = session.exec(select(Membership.team).distinct()).all()
    return {t.lower() for t in (*labelled, *members)}


def key_figures(this: MonthFigures, previous: MonthFigures):
    """The figures shown side by side: incidents by severity, detection, resolution, actions."""

    def completion(f):
        return round(100 * f.actions_done / f.actions_total) if f.actions_total else None

    rows = [Figure("Incidents", this.incidents, previous.incidents, "count")]
    rows += [
        Figure(
            severity,
            this.incidents_by_severity.get(severity, 0),
            previous.incidents_by_severity.get(severity, 0),
            "count",
        )
        for severity in SEVERITIES
    ]
    rows += [
        Figure(
            "Near misses and game days",
            this.near_misses + this.game_days,
            previous.near_misses + previous.game_days,
            "count",
            lower_is_better=False,  # finding problems before customers do is good
        ),
        Figure(
            "Median time to detect",
            this.ttd_median_minutes,
            previous.ttd_median_minutes,
            "minutes",
        ),
        Figure(
            "Median time to resolve",
            this.ttr_median_minutes,
            previous.ttr_median_minutes,
            "minutes",
        ),
        Figure(
            "Action items done",
            completion(this),
            completion(previous),
            "percent",
            lower_is_better=False,
        ),
        Figure("Action items overdue", this.actions_overdue, previous.actions_overdue, "count"),
    ]
    return rows


def _recommend(session, scope, month, incidents, themes):
    """One postmortem to read, chosen by a rule that can be explained in the mail.

    1. For the theme on the rise with the most factors this month: its most severe earlier
       postmortem (published before this month; the latest of equals). It met the same
       problem before; its factor in the theme is quoted as the evidence.
    2. Otherwise the most severe incident published this month with lessons written down.
    """
    severity_rank = case(
        {sev: rank for rank, sev in enumerate(SEVERITIES)},
        value=Postmortem.severity,
        else_=len(SEVERITIES),
    )
    for theme in themes:
        # The theme's stored members (kb themes rebuild), read through the visibility filter.
        row = session.exec(
            select(Postmortem.id, Factor.text)
            .join(ThemeFactor, ThemeFactor.factor_id == Factor.id)
            .join(Postmortem, Postmortem.id == ThemeFactor.postmortem_id)
            .where(
                ThemeFactor.theme_id == theme.id,
                Postmortem.status == "published",
                accounts.visibility_filter(scope),
                Postmortem.published_at < _at(month),
            )
            .order_by(
                severity_rank,
                Postmortem.published_at.desc(),
                ThemeFactor.score.desc(),
                Postmortem.id,
            )
            .limit(1)
        ).first()
        if row is None:
            continue
        pm = session.exec(
            select(Postmortem)
            .where(Postmortem.id == row[0])
            .options(selectinload(Postmortem.labels))
        ).one()
        return Recommendation(
            entry=_entry(pm),
            reason=(
                f"“{theme.label}” is {'new' if theme.is_new else 'on the rise'} this month. "
                f"{pm.ref} ({pm.published_at:%B %Y}) met the same problem, and its lessons "
                "were learned once already."
            ),
            rule="earlier-in-rising-theme",
            factor=row[1],
        )
    with_lessons = [e for e in incidents if e.lesson]
    if with_lessons:
        entry = with_lessons[0]  # incidents are sorted most severe first
        return Recommendation(
            entry=entry,
            reason=(
                f"The most severe incident published in {month:%B}"
                f"{f' ({entry.severity})' if entry.severity else ''}, "
                "with lessons that reach beyond the teams involved."
            ),
            rule="most-severe-this-month",
        )
    return None


def visibility_groups(session, scopes):
    """Group scopes that see exactly the same published postmortems.

    Two readers who may see the same restricted postmortems get the same digest, so the
    sender composes once per group. Returns {key: [indexes into scopes]}.
    """
    restricted = session.exec(
        select(Postmortem)
        .where(Postmortem.status == "published", Postmortem.visibility == "restricted")
        .options(selectinload(Postmortem.labels))
    ).all()
    facts = [
        (pm.id, pm.label_values("teams"), pm.label_values("authors") + pm.label_values("readers"))
        for pm in restricted
    ]
    groups = defaultdict(list)
    for index, scope in enumerate(scopes):
        key = frozenset(
            pm_id for pm_id, teams, people in facts if scope.allows("restricted", teams, people)
        )
        groups[key].append(index)
    return groups
