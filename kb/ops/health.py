"""Readiness (is this server fit to take requests?) and the figures /metrics reports."""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from kb.models import (
    OPEN_ACTION_STATUSES,
    STATUSES,
    ActionItem,
    Change,
    DigestSend,
    Postmortem,
    ThemeRun,
)

log = logging.getLogger(__name__)


@dataclass
class Readiness:
    ready: bool = True
    reason: str | None = None  # why not, in one sentence
    checks: dict = field(default_factory=dict)

    def fail(self, reason):
        """Mark not ready; the first reason is the one reported."""
        self.ready = False
        self.reason = self.reason or reason


@dataclass
class Figures:
    now: datetime
    postmortems_by_status: dict
    overdue_action_items: int
    index_lag: int | None
    themes_built_at: datetime | None
    digest_last_sent_at: datetime | None
    digest_month: str | None
    digest_by_status: dict


def readiness(session, app, max_lag=None):
    """Check the database (reachable, schema not behind this code) and the search index lag."""
    report = Readiness()
    max_lag = app.config["READY_MAX_LAG"] if max_lag is None else max_lag
    try:
        session.execute(text("SELECT 1"))
        revision = _database_revision(session)
    except SQLAlchemyError as exc:
        session.rollback()
        report.checks["database"] = "unreachable"
        report.fail(f"the database is not reachable: {_first_line(exc)}")
        return report
    report.checks["database"] = "ok"
    report.checks["schema"] = revision
    if revision != head_revision() and revision in known_revisions():
        # A revision this code does not know is a newer one (migrations run first): fine.
        report.fail(f"the database schema is at {revision}, this code needs {head_revision()}")
    lag = index_lag(session, app)
    report.checks["search_index_lag"] = lag
    report.checks["search_index_max_lag"] = max_lag
    if lag is not None and lag > max_lag:
        report.fail(f"the search index is {lag} changes behind (the bound is {max_lag})")
    return report


def _database_revision(session):
    try:
        with session.begin_nested():
            return session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        if getattr(exc, "connection_invalidated", False):
            raise  # the database went away: unreachable, not unmigrated
        return None  # no alembic_version table: never migrated


def _first_line(exc):
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]


@cache
def _script():
    from alembic.script import ScriptDirectory

    from kb.migrations import MIGRATIONS_DIR, alembic_config

    config = alembic_config(url="sqlite://")
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def head_revision():
    """The newest migration this code ships."""
    return _script().get_current_head()


@cache
def known_revisions():
    """Every migration this code ships."""
    return frozenset(s.revision for s in _script().walk_revisions())


def index_lag(session, app):
    """Changes this server's search index has not applied, or None if search is not set up."""
    from kb.search.service import service_for

    try:
        return service_for(app).lag(session)
    except SQLAlchemyError:
        raise
    except Exception:  # noqa: BLE001 (a broken index reads as "everything pending")
        log.warning("could not read the search index lag", exc_info=True)
        session.rollback()
        return session.execute(select(func.count()).select_from(Change)).scalar() or 0


def figures(session, app, now=None):
    """The figures of /metrics, read from the database now (one query each)."""
    now = now or datetime.now(UTC)
    by_status = dict.fromkeys(STATUSES, 0)
    for status, count in session.execute(
        select(Postmortem.status, func.count()).group_by(Postmortem.status)
    ):
        by_status[status] = count
    overdue = session.execute(
        select(func.count())
        .select_from(ActionItem)
        .where(ActionItem.status.in_(OPEN_ACTION_STATUSES), ActionItem.due < now.date())
    ).scalar()
    built_at = session.execute(select(func.max(ThemeRun.built_at))).scalar()
    sent_at = session.execute(
        select(func.max(DigestSend.sent_at)).where(DigestSend.status == "sent")
    ).scalar()
    month = session.execute(select(func.max(DigestSend.month))).scalar()
    digest_by_status = {}
    if month is not None:
        digest_by_status = {"sent": 0, "sending": 0, "failed": 0}
        for status, count in session.execute(
            select(DigestSend.status, func.count())
            .where(DigestSend.month == month)
            .group_by(DigestSend.status)
        ):
            digest_by_status[status] = count
    return Figures(
        now=now,
        postmortems_by_status=by_status,
        overdue_action_items=overdue or 0,
        index_lag=index_lag(session, app),
        themes_built_at=_aware(built_at),
        digest_last_sent_at=_aware(sent_at),
        digest_month=month,
        digest_by_status=digest_by_status,
    )


def _aware(value):
    # SQLite hands datetimes back without a zone; every stored time is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def version():
    """The installed version of Hindsight."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("hindsight")
    except PackageNotFoundError:
        return "unknown"
