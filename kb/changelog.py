"""Following the change log from a derived store: which changes are new since last time.

Every save writes a Change row in its own transaction (kb/postmortems.py). A derived store
(the search index, the in-process snapshot behind the figures) remembers a Cursor: `upto`,
the highest change id applied, and `gaps`, lower ids not seen yet with when they were first
missed. On PostgreSQL a change id can become visible after a higher one (ids are taken at
insert, rows appear at commit), so gaps are asked for again every round until they appear or
GAP_SECONDS pass (a rolled-back transaction leaves a gap forever).
"""

import time
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select

from kb.models import Change

GAP_SECONDS = 600  # how long a missing change id is waited for
LOOKBACK_IDS = 2000  # ids below a fresh watermark checked for in-flight transactions
MAX_GAPS = 10_000


def max_change_id(session):
    """The newest change id (0 for an empty log)."""
    return session.execute(select(func.max(Change.id))).scalar() or 0


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
        first = max(1, top - LOOKBACK_IDS + 1)
        return cls(top, {i: now for i in range(first, top + 1) if i not in present})

    @classmethod
    def from_state(cls, state):
        """The cursor kept in a JSON state ({"upto": n, "gaps": {"id": since}})."""
        gaps = {int(k): float(v) for k, v in (state.get("gaps") or {}).items()}
        return cls(int(state.get("upto", 0)), gaps)

    def state(self):
        """This cursor as JSON-ready data (see from_state)."""
        return {"upto": self.upto, "gaps": {str(k): v for k, v in self.gaps.items()}}

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
        (and after the change log restarted, as after a restore): then read everything."""
        if self.cursor is not None:
            expired = self.cursor.expire()
            rows = session.execute(
                select(Change.id, Change.postmortem_id).where(self.cursor.pending())
            ).all()
            if rows or expired:
                self.cursor.advance([r[0] for r in rows])
                self.generation += 1
                return {r[1] for r in rows}
            if max_change_id(session) >= self.cursor.upto:
                return set()
        self.cursor = Cursor.at_top(session)
        self.generation += 1
        return None
