"""Queries on theme memberships, always joined through the visibility filter."""

from sqlalchemy import select as sa_select

from kb.insights.kpis import (
    published,
)
from kb.models import (
    Factor,
    Postmortem,
    ThemeFactor,
)

RECURRING = 2  # a theme is recurring when it spans at least this many postmortems


def membership_query(session, user, theme_ids=None, until=None):
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


def central_factors(session, user, theme_id, limit):
    """The theme's visible factors, most central first: (factor, postmortem) columns."""
    query = membership_query(session, user, [theme_id]).add_columns(
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
