"""Following the change log from a derived store: which changes are new since last time.

Every save writes a Change row in its own transaction (kb/postmortems.py). A derived store
(the search index, the in-process snapshot behind the figures) remembers a Cursor: `upto`,
the highest change id applied, and `gaps`, lower ids not seen yet with when they were first
missed. On PostgreSQL a change id can become visible after a higher one (ids are taken at
insert, rows appear at commit), so gaps are asked for again every round until they appear or
GAP_SECONDS pass (a rolled-back transaction leaves a gap forever).

The log is pruned below what every durable follower has applied: each search index reports
its position (a ChangeFollower row), and `prune` deletes changes below the lowest position of
the followers seen recently that are also older than a safety margin, and records how far it
went (a ChangePrune row). A follower whose position is below that point (one that was away
longer than the followers are remembered, or an in-memory snapshot idle for longer than the
margin) cannot know what it missed, so it rebuilds from the database instead.
"""

import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from kb.models import Change, ChangeFollower, ChangePrune, utcnow

GAP_SECONDS = 600  # how long a missing change id is waited for
LOOKBACK_IDS = 2000  # ids below a fresh watermark checked for in-flight transactions
MAX_GAPS = 10_000
PRUNE_BATCH = 10_000  # changes deleted per transaction
PRUNES_KEPT = 100  # rows of the prune history kept


def max_change_id(session):
    """The newest change id (0 for an empty log)."""
    return session.execute(select(func.max(Change.id))).scalar() or 0


def pruned_upto(session):
    """The change id up to which the log may have been pruned (0: nothing pruned)."""
    return session.execute(select(func.max(ChangePrune.upto))).scalar() or 0


@dataclass
class Cursor:
    """How far a derived store has applied the change log."""

    upto: int = 0
    gaps: dict[int, float] = field(default_factory=dict)

    @classmethod
    def at_top(cls, session, now=None):
        """A cursor for a store about to be built from the current data: the watermark is
        the newest id, and recent ids not committed yet are gaps to wait for. Read it BEFORE
        reading the data, so that whatever changes meanwhile is applied later."""
        now = time.time() if now is None else now
        top = max_change_id(session)
        present = set(
            session.execute(select(Change.id).where(Change.id > top - LOOKBACK_IDS)).scalars()
        )
        # Ids the pruning went past are gone, not in flight: waiting for them would leave the
        # new store behind the pruned point from its first round.
        first = max(1, top - LOOKBACK_IDS + 1, pruned_upto(session) + 1)
        return cls(top, {i: now for i in range(first, top + 1) if i not in present})

    @classmethod
    def from_state(cls, state):
        """The cursor kept in a JSON state ({"upto": n, "gaps": {"id": since}})."""
        gaps = {int(k): float(v) for k, v in (state.get("gaps") or {}).items()}
        return cls(int(state.get("upto", 0)), gaps)

    def state(self):
        """This cursor as JSON-ready data (see from_state)."""
        return {"upto": self.upto, "gaps": {str(k): v for k, v in self.gaps.items()}}

    def floor(self):
        """The highest id such that every change up to it is applied (or given up)."""
        return min(self.gaps) - 1 if self.gaps else self.upto

    def behind_pruned(self, session):
        """Whether the log was pruned past a change this cursor still waits for. Ask after
        reading the pending rows: a prune committed meanwhile is then seen."""
        return pruned_upto(session) > self.floor()

    def pending(self):
        """The SQL condition on Change for what is not applied yet (gaps included)."""
        condition = Change.id > self.upto
        if self.gaps:
            condition = or_(condition, Change.id.in_(sorted(self.gaps)))
        return condition

    def expire(self, now=None):
        """Give up gaps older than GAP_SECONDS; returns the ids given up."""
        now = time.time() if now is None else now
        expired = [g for g, since in self.gaps.items() if now - since > GAP_SECONDS]
        for g in expired:
            del self.gaps[g]
        return expired

    def advance(self, ids, now=None):
        """Note change `ids` as applied: a later watermark, and any id skipped becomes a gap."""
        now = time.time() if now is None else now
        seen = set(ids)
        for g in seen & self.gaps.keys():
            del self.gaps[g]
        new_upto = max([self.upto, *seen])
        if new_upto - self.upto <= MAX_GAPS:
            for missing in range(self.upto + 1, new_upto):
                if missing not in seen:
                    self.gaps[missing] = now
        if len(self.gaps) > MAX_GAPS:
            self.gaps = dict(sorted(self.gaps.items())[-MAX_GAPS:])
        self.upto = new_upto


class Follower:
    """Follows the change log inside one process: which postmortems changed since last asked.

    For in-process derived data (the figures snapshot, cached page computations). Not
    thread-safe by itself: callers hold their own lock around `changed`.
    """

    def __init__(self):
        self.cursor = None
        self.generation = 0  # goes up whenever something changed

    def changed(self, session):
        """Ids of the postmortems changed since the last call, or None on the first call
        (and after the change log restarted, as after a restore, or was pruned past what
        this follower had applied): then read everything."""
        if self.cursor is not None:
            expired = self.cursor.expire()
            rows = session.execute(
                select(Change.id, Change.postmortem_id).where(self.cursor.pending())
            ).all()
            # Changes it needed were pruned (idle longer than the margin): read everything.
            behind = self.cursor.behind_pruned(session)
            if not behind and (rows or expired):
                self.cursor.advance([r[0] for r in rows])
                self.generation += 1
                return {r[1] for r in rows}
            if not behind and max_change_id(session) >= self.cursor.upto:
                return set()
        self.cursor = Cursor.at_top(session)
        self.generation += 1
        return None


# --- durable followers and pruning --------------------------------------------------------


def report_position(session, name, applied, now=None):
    """Record that follower `name` has applied every change up to `applied` (flushes)."""
    values = {"name": name, "applied": applied, "seen_at": now or utcnow()}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(ChangeFollower).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["name"], set_={"applied": applied, "seen_at": values["seen_at"]}
    )
    session.execute(statement)
    session.flush()


def forget(session, name):
    """Stop keeping changes for follower `name`; True if it was known (flushes)."""
    found = session.execute(delete(ChangeFollower).where(ChangeFollower.name == name)).rowcount
    session.flush()
    return bool(found)


@dataclass
class PruneReport:
    deleted: int = 0
    upto: int = 0  # the pruned point afterwards
    target: int = 0  # how far this run could have gone (more than `upto` when limited)
    forgotten: list = field(default_factory=list)  # followers not seen for too long
    reason: str = ""  # why nothing was deleted


def prune(session, *, keep_seconds, forget_seconds, limit=PRUNE_BATCH, now=None):
    """Delete up to `limit` changes that every follower seen within `forget_seconds` has
    applied and that are older than `keep_seconds`; forget the followers not seen for that
    long. Never deletes the newest change (SQLite would hand its id out again). Flushes."""
    now = now or utcnow()
    report = PruneReport(upto=pruned_upto(session))
    stale = ChangeFollower.seen_at < now - timedelta(seconds=forget_seconds)
    report.forgotten = list(session.execute(select(ChangeFollower.name).where(stale)).scalars())
    if report.forgotten:
        session.execute(delete(ChangeFollower).where(ChangeFollower.name.in_(report.forgotten)))
    lowest = session.execute(select(func.min(ChangeFollower.applied))).scalar()
    if lowest is None:
        report.reason = "no follower has reported its position recently"
        session.flush()
        return report
    top = max_change_id(session)
    report.target = upto = min(lowest, top - 1)
    if limit:
        nth = session.execute(
            select(Change.id)
            .where(Change.id > report.upto)
            .order_by(Change.id)
            .offset(limit - 1)
            .limit(1)
        ).scalar()
        if nth is not None:
            upto = min(upto, nth)
    # The margin, looked for only among the candidates (by id: no scan of the whole log).
    young = session.execute(
        select(func.min(Change.id)).where(
            Change.id > report.upto,
            Change.id <= upto,
            Change.at >= now - timedelta(seconds=keep_seconds),
        )
    ).scalar()
    if young is not None:
        upto = young - 1
        report.target = min(report.target, upto)
    if upto <= report.upto:
        report.reason = "nothing older than every follower's position and the margin"
        session.flush()
        return report
    report.deleted = session.execute(delete(Change).where(Change.id <= upto)).rowcount
    session.add(ChangePrune(upto=upto, deleted=report.deleted, at=now))
    session.flush()
    report.upto = upto
    _trim_history(session)
    return report


def _trim_history(session):
    oldest_kept = session.execute(
        select(ChangePrune.id).order_by(ChangePrune.id.desc()).offset(PRUNES_KEPT - 1).limit(1)
    ).scalar()
    if oldest_kept is not None:
        session.execute(delete(ChangePrune).where(ChangePrune.id < oldest_kept))
        session.flush()


def last_prune_at(session):
    """When the log was last pruned (None: never)."""
    return session.execute(select(func.max(ChangePrune.at))).scalar()


def prune_settings(config):
    """prune()'s margins from the app's configuration (CHANGELOG_KEEP/FORGET_HOURS)."""
    return {
        "keep_seconds": float(config["CHANGELOG_KEEP_HOURS"]) * 3600,
        "forget_seconds": float(config["CHANGELOG_FORGET_HOURS"]) * 3600,
    }


def prune_interval(config):
    """Seconds between background prunings (CHANGELOG_PRUNE_MINUTES; 0: none)."""
    return max(0.0, float(config["CHANGELOG_PRUNE_MINUTES"] or 0) * 60)


def prune_if_due(session, config, now=None):
    """One batch of pruning, unless any server pruned within the interval: None then, else
    a PruneReport (flushes). For the servers' background rounds."""
    now = now or utcnow()
    last = last_prune_at(session)
    if last is not None and (now - last).total_seconds() < prune_interval(config):
        return None
    return prune(session, **prune_settings(config), limit=PRUNE_BATCH, now=now)


def followers(session):
    """Every follower the log keeps changes for, lowest position first."""
    return (
        session.execute(
            select(ChangeFollower).order_by(ChangeFollower.applied, ChangeFollower.name)
        )
        .scalars()
        .all()
    )
