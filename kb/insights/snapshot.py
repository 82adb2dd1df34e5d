"""Published postmortems as numpy columns, kept in each process and followed through the log.

The figures dashboard reads a handful of attributes of every published postmortem in a range,
tens of thousands of rows, and half a second of queries at 50,000 postmortems. This snapshot
reads them once per process, then, whenever the change log names a postmortem, re-reads only
that one (kb.changelog.Follower, the same cursor the search index uses). It is derived data
held in memory, never written anywhere: a new process starts again from the database, and
`kb.insights.kpis` computes the same figures from it as the SQL would.

Visibility: a row keeps whether the postmortem is restricted and, if it is, its teams and
people (authors and readers); `visible(scope)` asks accounts.Scope.allows about those rows,
so the rule is still written once.
"""

import logging
import threading
from datetime import date

import numpy as np
from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from kb.changelog import Follower
from kb.db import per_engine
from kb.insights.child_rows import Children
from kb.insights.sqldates import sql_day_number, sql_minutes, sql_month
from kb.models import (
    ACTION_STATUSES,
    CHANGE_TRIGGERS,
    KINDS,
    SEVERITIES,
    TRIGGERS,
    ActionItem,
    Factor,
    Label,
    Postmortem,
    ThemeCuration,
    ThemeFactor,
    ThemeRun,
)
from kb.months import month_index

CACHE_SIZE = 256  # computations kept per generation of the data
READ_CHUNK = 500  # postmortem ids per query when re-reading changed ones
NO_MONTH = -1
NO_DUE = 0
NO_FACTOR = -1

log = logging.getLogger(__name__)


class Snapshot:
    """The published postmortems of one database, as columns indexed by slot."""

    def __init__(self):
        self.lock = threading.Lock()
        self.follower = Follower()
        self.theme_run = None
        self.slot_of = {}
        self.free = []
        self.size = 0
        self.columns = {}
        self.audience = {}  # slot -> (teams, people) of restricted postmortems
        self.actions = Children(status=np.int8, due=np.int32, factor=np.int32)
        self.services = Children(code=np.int32)
        self.themes = Children(theme=np.int32, position=np.int32)
        self.service_names, self._service_code = [], {}
        self.results = {}  # computations from this generation of the data (see cached)
        self._allocate(0)

    # --- reading the database -------------------------------------------------------------

    def refresh(self, session):
        """Bring the snapshot up to date with what `session` sees; call with the lock held.

        If reading fails half way (the database went away), the next call reads everything
        again: the change-log position has moved on, so the changes would be lost otherwise.
        """
        try:
            self._refresh(session)
        except BaseException:
            self.follower = Follower()
            self.results = {}
            raise

    def _refresh(self, session):
        changed = self.follower.changed(session)
        # Memberships change with a rebuild, or with an admin's merge or split of themes (a
        # postmortem placed in themes between rebuilds comes with its change-log entry).
        run = (
            session.execute(select(ThemeRun.id).order_by(ThemeRun.id.desc()).limit(1)).scalar(),
            session.execute(select(func.max(ThemeCuration.id))).scalar(),
        )
        if changed is None:
            self._load_everything(session)
        elif changed:
            self._reload(session, sorted(changed | self._naming(session, changed)))
        if changed is None or run != self.theme_run:
            self.themes = Children(theme=np.int32, position=np.int32)
            self._read_themes(session, None)
            self.theme_run = run
        elif not changed:
            return
        self.results = {}

    def cached(self, key, compute):
        """compute(), or what it gave for `key` since the data last changed; with the lock
        held. Callers must treat the result as read-only."""
        if key not in self.results:
            if len(self.results) >= CACHE_SIZE:
                self.results.pop(next(iter(self.results)))
            self.results[key] = compute()
        return self.results[key]

    def _load_everything(self, session):
        self.slot_of, self.free, self.audience = {}, [], {}
        self.actions = Children(status=np.int8, due=np.int32, factor=np.int32)
        self.services = Children(code=np.int32)
        self._allocate(0)
        self._read(session, None)

    def _naming(self, session, ids):
        """The ids of the postmortems that name one of these pre-mortems: their link is read
        again when the pre-mortem is published, unpublished or deleted."""
        named, ids = set(), sorted(ids)
        for start in range(0, len(ids), READ_CHUNK):
            connection = session.connection()
            # Most changes are not pre-mortems: look for those first, so that the scan of
            # every postmortem's link happens only when a pre-mortem changed.
            refs = (
                connection.execute(
                    select(func.lower(Postmortem.ref)).where(
                        Postmortem.id.in_(ids[start : start + READ_CHUNK]),
                        Postmortem.kind == "pre-mortem",
                    )
                )
                .scalars()
                .all()
            )
            if refs:
                named.update(
                    connection.execute(
                        select(Postmortem.id).where(func.lower(Postmortem.premortem).in_(refs))
                    ).scalars()
                )
        # A deleted pre-mortem's row is gone: whoever named it is found by its slot instead.
        gone = {i for i in ids if i in self.slot_of}
        if gone:
            premortem = self.columns["premortem"][: self.size]
            live = self.columns["live"][: self.size]
            hit = live & np.isin(premortem, list(gone))
            named.update(self.columns["id"][: self.size][hit].tolist())
        return named

    def _reload(self, session, ids):
        for start in range(0, len(ids), READ_CHUNK):
            chunk = ids[start : start + READ_CHUNK]
            slots = [self.slot_of.pop(i) for i in chunk if i in self.slot_of]
            for slot in slots:
                self.columns["live"][slot] = False
                self.audience.pop(slot, None)
            self.free.extend(slots)
            self.actions.drop(slots)
            self.services.drop(slots)
            self.themes.drop(slots)
            self._read(session, chunk)
            self._read_themes(session, chunk)

    def _read(self, session, ids):
        """Read published postmortems (all, or those of `ids`) and their children."""
        started = Postmortem.started_at
        # A pre-mortem counts in the month its change is planned for.
        month_of = func.coalesce(Postmortem.started_at, Postmortem.planned_at)
        which = Postmortem.status == "published"
        if ids is not None:
            which = and_(which, Postmortem.id.in_(ids))
        connection = session.connection()
        covering = aliased(Postmortem)
        rows = connection.execute(
            select(
                Postmortem.id,
                sql_month(session, month_of),
                Postmortem.kind,
                Postmortem.severity,
                Postmortem.trigger,
                Postmortem.visibility,
                sql_minutes(session, started, Postmortem.detected_at),
                sql_minutes(session, started, Postmortem.resolved_at),
                sql_minutes(session, Postmortem.resolved_at, Postmortem.published_at),
                covering.id,
                Postmortem.foreseen,
            )
            .outerjoin(covering, _covered_by(covering))
            .where(which)
            .order_by(Postmortem.id)
        ).all()
        slots = self._place([r[0] for r in rows])
        c = self.columns
        nan = float("nan")
        c["id"][slots] = [r[0] for r in rows]
        c["live"][slots] = True
        c["month"][slots] = [
            month_index(date(int(m[:4]), int(m[5:7]), 1)) if m else NO_MONTH
            for m in (r[1] for r in rows)
        ]
        c["kind"][slots] = [KINDS.index(r[2]) if r[2] in KINDS else -1 for r in rows]
        c["severity"][slots] = [SEVERITIES.index(r[3]) if r[3] in SEVERITIES else -1 for r in rows]
        c["change"][slots] = [r[4] in CHANGE_TRIGGERS for r in rows]
        c["trigger"][slots] = [TRIGGERS.index(r[4]) if r[4] in TRIGGERS else -1 for r in rows]
        c["restricted"][slots] = [r[5] != "internal" for r in rows]
        for column, position in (("ttd", 6), ("ttr", 7), ("publish", 8)):
            c[column][slots] = [nan if r[position] is None else float(r[position]) for r in rows]
        c["premortem"][slots] = [r[9] or 0 for r in rows]
        c["foreseen"][slots] = [materialised(r[10]) for r in rows]
        slot_of = self.slot_of

        def children(query):
            if ids is not None:
                query = query.where(Postmortem.id.in_(ids))
            return connection.execute(query.where(Postmortem.status == "published")).all()

        restricted = [r[0] for r in rows if r[5] != "internal"]
        if restricted:
            audience = {}
            for pm_id, field, value in children(
                select(Label.postmortem_id, Label.field, Label.value)
                .join(Postmortem, Postmortem.id == Label.postmortem_id)
                .where(
                    Postmortem.visibility != "internal",
                    Label.field.in_(("teams", "authors", "readers")),
                )
            ):
                teams, people = audience.setdefault(slot_of[pm_id], (set(), set()))
                (teams if field == "teams" else people).add(
                    value if field == "teams" else value.lower()
                )
            for pm_id in restricted:
                teams, people = audience.get(slot_of[pm_id], ((), ()))
                self.audience[slot_of[pm_id]] = (tuple(sorted(teams)), tuple(sorted(people)))

        actions = children(
            select(
                ActionItem.postmortem_id,
                ActionItem.status,
                sql_day_number(session, ActionItem.due),
                ActionItem.factor,
            )
            .join(Postmortem, Postmortem.id == ActionItem.postmortem_id)
            .order_by(ActionItem.postmortem_id)
        )
        self.actions.append(
            [slot_of[a[0]] for a in actions],
            status=[
                ACTION_STATUSES.index(a[1]) if a[1] in ACTION_STATUSES else -1 for a in actions
            ],
            due=[a[2] or NO_DUE for a in actions],
            factor=[NO_FACTOR if a[3] is None else a[3] for a in actions],
        )
        services = children(
            select(Label.postmortem_id, Label.value)
            .join(Postmortem, Postmortem.id == Label.postmortem_id)
            .where(Label.field == "services")
            .order_by(Label.postmortem_id)
        )
        self.services.append(
            [slot_of[s[0]] for s in services], code=[self._service(s[1]) for s in services]
        )

    def _read_themes(self, session, ids):
        query = (
            select(ThemeFactor.postmortem_id, ThemeFactor.theme_id, Factor.position)
            .join(Postmortem, Postmortem.id == ThemeFactor.postmortem_id)
            .join(Factor, Factor.id == ThemeFactor.factor_id)
            .where(Postmortem.status == "published")
            .order_by(ThemeFactor.postmortem_id)
        )
        if ids is not None:
            query = query.where(Postmortem.id.in_(ids))
        rows = session.connection().execute(query).all()
        self.themes.append(
            [self.slot_of[r[0]] for r in rows],
            theme=[r[1] for r in rows],
            position=[r[2] for r in rows],
        )

    def _service(self, name):
        code = self._service_code.get(name)
        if code is None:
            code = self._service_code[name] = len(self.service_names)
            self.service_names.append(name)
        return code

    # --- slots ----------------------------------------------------------------------------

    def _allocate(self, capacity):
        self.size = 0
        self.columns = {
            "id": np.zeros(capacity, np.int64),
            "live": np.zeros(capacity, bool),
            "month": np.full(capacity, NO_MONTH, np.int32),
            "kind": np.zeros(capacity, np.int8),
            "severity": np.zeros(capacity, np.int8),
            "change": np.zeros(capacity, bool),
            "trigger": np.zeros(capacity, np.int8),
            "restricted": np.zeros(capacity, bool),
            "ttd": np.zeros(capacity, np.float64),
            "ttr": np.zeros(capacity, np.float64),
            "publish": np.zeros(capacity, np.float64),
            "premortem": np.zeros(capacity, np.int64),  # the id of the pre-mortem it names
            "foreseen": np.zeros(capacity, bool),  # a risk of that pre-mortem materialised
        }

    def _place(self, ids):
        """Slots for these postmortem ids: freed ones first, then new ones at the end."""
        slots = []
        for pm_id in ids:
            slot = self.free.pop() if self.free else self._grow()
            self.slot_of[pm_id] = slot
            slots.append(slot)
        return np.asarray(slots, dtype=np.int64)

    def _grow(self):
        capacity = len(self.columns["id"])
        if self.size == capacity:
            more = max(1024, capacity)
            for name, column in self.columns.items():
                filler = NO_MONTH if name == "month" else 0
                self.columns[name] = np.concatenate([column, np.full(more, filler, column.dtype)])
        self.size += 1
        return self.size - 1

    # --- questions ------------------------------------------------------------------------

    def rows_of(self, children, mask):
        """A mask of the live rows of `children` whose postmortem's slot is set in `mask`."""
        owner = children.columns["owner"]
        rows = owner >= 0
        rows[rows] = mask[owner[rows]]
        return rows

    def covered(self, visible):
        """A mask of the slots that name a published pre-mortem whose slot is set in
        `visible` (a pre-mortem the reader may not see does not count)."""
        premortem = self.columns["premortem"][: self.size]
        covered = np.zeros(self.size, bool)
        for slot in np.flatnonzero(premortem).tolist():
            target = self.slot_of.get(int(premortem[slot]))
            covered[slot] = target is not None and bool(visible[target])
        return covered

    def visible(self, scope):
        """A mask of the slots `scope` (accounts.Scope) may see."""
        live = self.columns["live"][: self.size]
        if scope.nothing:
            return np.zeros(self.size, bool)
        if scope.everything:
            return live.copy()
        mask = live & ~self.columns["restricted"][: self.size]
        allowed = [
            slot
            for slot, (teams, people) in self.audience.items()
            if scope.allows("restricted", teams, people)
        ]
        mask[allowed] = True
        return mask & live


def _covered_by(covering):
    """The join condition: `covering` is the published pre-mortem a postmortem names (refs
    are matched ignoring case, as they are unique)."""
    return and_(
        func.lower(covering.ref) == func.lower(Postmortem.premortem),
        covering.kind == "pre-mortem",
        covering.status == "published",
    )


def materialised(foreseen):
    """Whether a postmortem's `foreseen` rows say a risk of its pre-mortem materialised."""
    return any(isinstance(row, dict) and row.get("materialised") == "yes" for row in foreseen or ())


for_engine = per_engine(Snapshot)  # the snapshot of one database in this process


def for_session(session):
    """The snapshot of the database `session` is bound to (one per engine and process)."""
    return for_engine(session.get_bind())


def warm_in_background(app):
    """Read the snapshot of `app`'s database in a background thread, so that a new worker's
    first figures view finds it ready (reading 50,000 postmortems takes about 1.5 s; after
    that a change costs tens of milliseconds). A failure is logged; the first view then
    reads it instead."""
    engine = app.extensions["kb_engine"]

    def run():
        try:
            with Session(engine) as session:
                snapshot = for_engine(engine)
                with snapshot.lock:
                    snapshot.refresh(session)
        except Exception:  # noqa: BLE001 (the first figures view reads it instead)
            log.exception("reading the figures snapshot in the background failed")

    thread = threading.Thread(target=run, name="kb-figures-warm", daemon=True)
    thread.start()
    return thread
