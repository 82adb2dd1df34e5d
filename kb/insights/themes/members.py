"""Queries on theme memberships (joined through the visibility filter), and the mark that
they changed since the last rebuild."""

from sqlalchemy import func, update
from sqlalchemy import select as sa_select

from kb.insights.kpis import published
from kb.models import Factor, Postmortem, ThemeFactor, ThemeRun

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


def mark_changed(session):
    """Note that the stored themes changed since the last rebuild (a postmortem published or
    unpublished, an admin's edit): caches of themes and similar incidents key on the
    latest run's revision. One statement, so concurrent changes both count."""
    latest = session.exec(sa_select(func.max(ThemeRun.id))).one()[0]
    if latest is not None:
        session.exec(
            update(ThemeRun).where(ThemeRun.id == latest).values(revision=ThemeRun.revision + 1)
        )
