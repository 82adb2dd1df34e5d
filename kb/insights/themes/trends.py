"""How themes move from month to month (for the digest)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from kb.insights.themes.members import membership_query
from kb.insights.themes.reading import _aggregate
from kb.models import (
    Postmortem,
)
from kb.months import month_start, next_month, shift_month

TREND_MONTHS = 6  # trends compare a month with the average of this many months before it


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
            membership_query(session, user, [view.id], until)
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
