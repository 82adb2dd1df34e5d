"""Keeping the index in step with the database, through the change log.

Every save writes a Change row in its own transaction (kb/postmortems.py). Applying a change
means: read the postmortem's CURRENT state from the database and upsert it (or delete it when
it is gone). That makes applying idempotent and insensitive to order. The index stores which
changes it has applied in a special document committed atomically with the documents, so a
crash between the database commit and the index write loses nothing: the next run re-applies.

The state keeps a kb.changelog.Cursor (the highest id applied and the gaps below it that
have not committed yet), so a change id that becomes visible after a higher one is not missed.
Each index reports that position to the database (a follower named after the server and the
folder), so that the change log is pruned only below it; an index found behind the pruned
point (its server was away longer than followers are remembered) is rebuilt.

One writer per index folder at a time: an OS file lock, tried without blocking. Whoosh's own
AsyncWriter and buffered writers lose documents under contention; here nobody waits and
nothing is lost, because whoever holds the lock applies everything pending.
"""

import contextlib
import logging
import os
import socket
import threading
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session
from whoosh import writing

from kb import changelog
from kb.document_format import CHOICES
from kb.models import SECTIONS, ActionItem, Change, Factor, Label, Postmortem
from kb.search import schema
from kb.search.index import IndexUnavailable, for_app, read_state, state_fields

log = logging.getLogger(__name__)

BATCH = 500  # changes applied per index commit
POLL_SECONDS = 1.0  # the background poll for changes made by other servers
KICK_WAIT = 3.0  # after a local save: how long to keep trying for the writer lock
READ_BATCH = 1000  # postmortems read per query during a rebuild
REPORT_SECONDS = 60.0  # how often a server writes its index's position (pruning keeps above it)


@dataclass
class ApplyReport:
    busy: bool = False  # another process holds the writer lock (it applies everything)
    rebuilt: int = 0  # documents written by a full rebuild
    applied: int = 0  # changes applied
    upserted: int = 0
    deleted: int = 0
    pruned_rebuilds: int = 0  # rebuilds because the change log was pruned past the index


@dataclass
class CheckReport:
    indexed: int = 0
    in_database: int = 0
    missing: list = field(default_factory=list)  # refs in the database, not in the index
    extra: list = field(default_factory=list)  # refs in the index, not in the database
    stale: list = field(default_factory=list)  # refs whose indexed version is not the current
    lag: int = 0
    available: bool = True

    @property
    def drift(self):
        return not self.available or bool(self.missing or self.extra or self.stale)


# --- reading postmortems as documents -----------------------------------------------------

_SCALARS = (
    "id",
    "ref",
    "title",
    *CHOICES,
    "started_at",
    "created_at",
    "version",
    "timeline",
    *SECTIONS,
)


def load_documents(session, ids):
    """{postmortem id: index fields} for the given ids that still exist (plain queries, no ORM)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    pm = Postmortem.__table__
    columns = [pm.c[name] for name in dict.fromkeys(_SCALARS)]
    rows = session.execute(select(*columns).where(pm.c.id.in_(ids))).mappings().all()
    return _fields_for_rows(session, rows)


def iter_all_documents(session, batch=READ_BATCH):
    """Every postmortem as index fields, in id order, `batch` at a time."""
    pm = Postmortem.__table__
    columns = [pm.c[name] for name in dict.fromkeys(_SCALARS)]
    last = 0
    while True:
        query = select(*columns).where(pm.c.id > last).order_by(pm.c.id).limit(batch)
        rows = session.execute(query).mappings().all()
        if not rows:
            return
        yield from _fields_for_rows(session, rows).values()
        last = rows[-1]["id"]


def _fields_for_rows(session, rows):
    ids = [r["id"] for r in rows]
    labels = defaultdict(lambda: defaultdict(list))
    label = Label.__table__
    for pid, name, value in session.execute(
        select(label.c.postmortem_id, label.c.field, label.c.value)
        .where(label.c.postmortem_id.in_(ids))
        .order_by(label.c.postmortem_id, label.c.field, label.c.position)
    ):
        labels[pid][name].append(value)
    factors = defaultdict(list)
    factor = Factor.__table__
    for pid, text, category in session.execute(
        select(factor.c.postmortem_id, factor.c.text, factor.c.category)
        .where(factor.c.postmortem_id.in_(ids))
        .order_by(factor.c.postmortem_id, factor.c.position)
    ):
        factors[pid].append({"text": text, "category": category})
    actions = defaultdict(list)
    action = ActionItem.__table__
    for pid, title in session.execute(
        select(action.c.postmortem_id, action.c.title)
        .where(action.c.postmortem_id.in_(ids))
        .order_by(action.c.postmortem_id, action.c.position)
    ):
        actions[pid].append({"title": title})
    out = {}
    for row in rows:
        doc = dict(row)
        doc.update(labels[row["id"]])
        doc["contributing_factors"] = factors[row["id"]]
        doc["action_items"] = actions[row["id"]]
        out[row["id"]] = schema.fields_for(
            row["id"], doc, version=row["version"], created_at=row["created_at"]
        )
    return out


# --- applying the change log --------------------------------------------------------------


def apply_pending(session, idx, *, wait=0.0, progress=None):
    """Apply every pending change to the index (rebuilding it first if it is missing or
    unusable). Returns an ApplyReport; `busy` when another process holds the lock."""
    report = ApplyReport()
    with idx.write_lock(wait=wait) as locked:
        if not locked:
            report.busy = True
            return report
        ix = idx.open_for_writing()
        if ix is None:
            report.rebuilt = _rebuild_locked(session, idx, None, progress, procs=1)
            ix = idx.open_for_writing()
            if ix is None:
                raise IndexUnavailable("the search index could not be rebuilt")
        while True:
            state = _current_state(idx)
            top = changelog.max_change_id(session)
            if top < state["upto"]:
                # The change log restarted (a new or restored database): start over.
                log.warning("the change log is behind the index; rebuilding the index")
                report.rebuilt += _rebuild_locked(session, idx, ix, progress, procs=1)
                state = _current_state(idx)
            try:
                done = _apply_round(session, idx, ix, state, report)
            except _PrunedPast:
                # Changes this index had not applied were pruned: only a rebuild is sure. A
                # rebuild starts above the pruned point; a prune racing it costs one more.
                if report.pruned_rebuilds >= 3:
                    problem = "the change log keeps being pruned past the index"
                    raise IndexUnavailable(problem) from None
                log.warning("the change log was pruned past this index's position; rebuilding")
                report.pruned_rebuilds += 1
                report.rebuilt += _rebuild_locked(session, idx, ix, progress, procs=1)
                continue
            session.rollback()  # end the read transaction: the next round sees newer commits
            if done:
                break
    return report


def _current_state(idx):
    # A searcher of the pool, refreshed: reopening only what changed is far cheaper than a new
    # searcher (about 150 ms at 50,000 documents).
    with idx.searcher() as searcher:
        state = read_state(searcher)
    return state or {"schema": schema.SCHEMA_VERSION, "upto": 0, "gaps": {}}


class _PrunedPast(Exception):
    """The change log was pruned past a change the index had not applied."""


def _apply_round(session, idx, ix, state, report):
    """Apply up to BATCH changes; True when nothing more was pending."""
    cursor = changelog.Cursor.from_state(state)
    expired = cursor.expire()
    rows = session.execute(
        select(Change.id, Change.postmortem_id)
        .where(cursor.pending())
        .order_by(Change.id)
        .limit(BATCH)
    ).all()
    if cursor.behind_pruned(session):
        raise _PrunedPast
    if not rows and not expired:
        return True
    cursor.advance([r[0] for r in rows])
    pids = {r[1] for r in rows}
    docs = load_documents(session, pids)
    new_state = {"schema": schema.SCHEMA_VERSION, **cursor.state()}
    writer = ix.writer(timeout=10.0)
    try:
        # Find the old versions with this process's searcher (we hold the lock, so it shows
        # exactly the writer's segments): Whoosh's update_document would open a new one.
        old = _docnums(idx, writer, [str(p) for p in pids] + [schema.STATE_ID])
        for docnum in old:
            writer.delete_document(docnum)
        for pid in sorted(pids):
            if pid in docs:
                writer.add_document(**docs[pid])
                report.upserted += 1
            else:
                report.deleted += 1
        writer.add_document(**state_fields(new_state))
        writer.commit()
    except BaseException:
        _abandon(writer)
        raise
    report.applied += len(rows)
    return False  # look again: more may have committed while this round was written


def _docnums(idx, writer, pids):
    """Document numbers of these pids, valid for `writer` (same segments, same order)."""
    with idx.searcher() as searcher:
        leaves = [
            r.segment().segment_id()
            for r, _o in searcher.reader().leaf_readers()
            if r.segment() is not None
        ]
        if leaves == [s.segment_id() for s in writer.segments]:
            return [n for pid in pids for n in searcher.document_numbers(pid=pid)]
    # Not the same view (should not happen under the lock): let Whoosh look them up.
    own = writer.searcher()  # the writer closes it when it commits
    return [n for pid in pids for n in own.document_numbers(pid=pid)]


def _abandon(writer):
    """Give up a writer, even one whose commit failed half-way, and free Whoosh's lock."""
    with contextlib.suppress(Exception):
        writer.cancel()
    with contextlib.suppress(Exception):
        writer.writelock.release()


# --- rebuilding ---------------------------------------------------------------------------


def rebuild(session, idx, *, progress=None, procs=1, wait=30.0):
    """Rebuild the whole index from the database (readers keep the old one until the switch),
    then apply what changed meanwhile. Returns the number of documents indexed."""
    with idx.write_lock(wait=wait) as locked:
        if not locked:
            raise IndexUnavailable("another process holds the index writer lock")
        ix = idx.open_for_writing()
        count = _rebuild_locked(session, idx, ix, progress, procs)
    apply_pending(session, idx, wait=wait)
    return count


def _rebuild_locked(session, idx, ix, progress, procs):
    # The watermark is read BEFORE the documents: whatever changes after it is applied later.
    cursor = changelog.Cursor.at_top(session)
    if ix is None:
        ix = idx.create_empty()
    options = {"limitmb": 256}
    if procs > 1:
        options.update(procs=procs, multisegment=True)
    writer = ix.writer(**options)
    count = 0
    try:
        for fields in iter_all_documents(session):
            writer.add_document(**fields)
            count += 1
            if progress:
                progress(1)
        state = {"schema": schema.SCHEMA_VERSION, **cursor.state()}
        writer.add_document(**state_fields(state))
        # CLEAR: the new segments replace every old one in one commit (readers switch at once).
        writer.commit(mergetype=writing.CLEAR)
    except BaseException:
        _abandon(writer)
        raise
    session.rollback()
    idx.close()
    return count


# --- the index as a follower of the change log -------------------------------------------


def follower_name(idx):
    """This server's name for the index folder `idx` among the change log's followers."""
    return f"search:{socket.gethostname()}:{idx.path}"


def report_position(session, idx):
    """Record in the database how far the index `idx` has applied the change log, so that
    pruning keeps every change it still needs (flushes). False when there is no index."""
    try:
        state = idx.state()
    except IndexUnavailable:
        return False
    if state is None:
        return False
    applied = changelog.Cursor.from_state(state).floor()
    changelog.report_position(session, follower_name(idx), applied)
    return True


# --- questions operators ask --------------------------------------------------------------


def lag(session, app):
    """How many changes the index of `app` (in this process's view) has not applied yet."""
    idx = for_app(app)
    try:
        state = idx.state()
    except IndexUnavailable:
        state = None
    if state is None:
        return session.execute(select(func.count()).select_from(Change)).scalar() or 0
    condition = changelog.Cursor.from_state(state).pending()
    return session.execute(select(func.count()).select_from(Change).where(condition)).scalar() or 0


def status(session, app):
    """A dict describing the index: documents, watermark, gaps, lag, size, availability."""
    idx = for_app(app)
    info = {"path": str(idx.path), "available": True, "documents": 0, "upto": None, "gaps": 0}
    try:
        with idx.searcher() as searcher:
            state = read_state(searcher) or {}
            info["documents"] = searcher.doc_count() - (1 if state else 0)
            info["segments"] = len(searcher.reader().leaf_readers())
        info["upto"] = state.get("upto")
        info["gaps"] = len(state.get("gaps", {}))
    except IndexUnavailable as exc:
        info["available"] = False
        info["problem"] = str(exc)
    info["lag"] = lag(session, app)
    info["latest_change"] = changelog.max_change_id(session)
    info["pruned_upto"] = changelog.pruned_upto(session)
    info["follower"] = follower_name(idx)
    info["size_bytes"] = idx.size_bytes()
    return info


def check(session, app):
    """Compare the index with the database, document by document (ids and versions)."""
    idx = for_app(app)
    report = CheckReport()
    database = {
        pid: (ref, version)
        for pid, ref, version in session.execute(
            select(Postmortem.id, Postmortem.ref, Postmortem.version)
        )
    }
    report.in_database = len(database)
    try:
        with idx.searcher() as searcher:
            indexed = {}
            for _docnum, stored in searcher.reader().iter_docs():
                if stored.get("pid") == schema.STATE_ID:
                    continue
                meta = stored.get("meta") or {}
                indexed[int(stored["pid"])] = (meta.get("ref"), meta.get("version"))
    except IndexUnavailable:
        report.available = False
        report.lag = lag(session, app)
        return report
    report.indexed = len(indexed)
    report.missing = sorted(database[p][0] for p in database.keys() - indexed.keys())
    report.extra = sorted(str(indexed[p][0]) for p in indexed.keys() - database.keys())
    report.stale = sorted(
        database[p][0] for p in database.keys() & indexed.keys() if database[p] != indexed[p]
    )
    report.lag = lag(session, app)
    return report


# --- after each commit, and in the background ---------------------------------------------


class Syncer:
    """Applies the change log for one app in this process: right after a local commit that
    wrote changes, and on a light poll for changes committed by other servers."""

    def __init__(self, app):
        # Weakly: the background thread must not keep a discarded app (and its files) alive.
        self._app = weakref.ref(app)
        mode = app.config.get("SEARCH_SYNC") or ("inline" if app.testing else "thread")
        self.mode = mode  # inline: in the committing thread; thread: in a background thread
        self.known_upto = None
        self._reported_at = None  # time.monotonic() of the last position written
        self._prune_checked_at = time.monotonic()  # the first automatic prune waits a round
        self._event = threading.Event()
        self._thread = None
        self._pid = None
        self._stop = False
        self._mutex = threading.Lock()

    @property
    def app(self):
        return self._app()

    def run_once(self, wait=0.0):
        """Apply what is pending; never raises (a save must not fail because of search)."""
        app = self.app
        if app is None:
            return None
        engine = app.extensions["kb_engine"]
        try:
            with Session(engine) as session:
                # Read the newest id before applying: a change committed while this round runs
                # must still look new to the next poll (reading it after would hide it).
                top = changelog.max_change_id(session)
                report = apply_pending(session, for_app(app), wait=wait)
                if not report.busy:
                    self.known_upto = top
                    self._report_position(session, app)
                return report
        except Exception:  # noqa: BLE001 (logged; the poll tries again)
            log.exception("applying the change log to the search index failed")
            return None
        finally:
            if app.testing:
                for_app(app).close()  # tests make many apps: leave no file open

    def _report_position(self, session, app):
        # At most every REPORT_SECONDS: an older position only makes pruning keep more.
        now = time.monotonic()
        if self._reported_at is not None and now - self._reported_at < REPORT_SECONDS:
            return
        if report_position(session, for_app(app)):
            session.commit()
            self._reported_at = now

    def prune_if_due(self):
        """Prune the change log if this server's turn has come (CHANGELOG_PRUNE_MINUTES,
        shared by all servers through the time of the last prune); never raises."""
        app = self.app
        every = changelog.prune_interval(app.config) if app is not None else 0
        now = time.monotonic()
        if not every or now - self._prune_checked_at < every:
            return None
        self._prune_checked_at = now
        try:
            with Session(app.extensions["kb_engine"]) as session:
                result = changelog.prune_if_due(session, app.config)
                session.commit()
                return result
        except Exception:  # noqa: BLE001 (logged; the next round tries again)
            log.exception("pruning the change log failed")
            return None

    def notify(self):
        """A commit in this process wrote changes: get them into the index soon."""
        if self.mode == "off":
            return
        from flask import has_request_context

        if self.mode == "inline" or not has_request_context():
            # Tests, CLI commands and scripts: apply now (there may be no thread to do it).
            self.run_once(wait=KICK_WAIT)
            return
        self.ensure_running()
        self._event.set()

    def before_search(self):
        """Inline mode catches up here; thread mode makes sure the poll is running."""
        if self.mode == "inline":
            engine = self.app.extensions["kb_engine"]
            with Session(engine) as session:
                top = changelog.max_change_id(session)
            if self.known_upto is None or top > self.known_upto or not for_app(self.app).exists():
                self.run_once(wait=KICK_WAIT)
        elif self.mode == "thread":
            self.ensure_running()

    def ensure_running(self):
        """Start the background thread of this process (again, after a fork)."""
        with self._mutex:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._loop, name="kb-search-sync", daemon=True)
            self._thread.start()

    def stop(self):
        """Stop the background thread (tests, and orderly shutdown)."""
        self._stop = True
        self._event.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self):
        kicked = True  # the first round rebuilds a missing index and catches up
        while not self._stop and self.app is not None:
            if kicked or self._has_news() or self._report_due():
                self.run_once(wait=KICK_WAIT if kicked else 0.0)
            self.prune_if_due()
            kicked = self._event.wait(POLL_SECONDS)
            self._event.clear()

    def _report_due(self):
        # An idle server still says it is there, so that pruning does not forget it.
        return self._reported_at is None or time.monotonic() - self._reported_at >= REPORT_SECONDS

    def _has_news(self):
        app = self.app
        if app is None:
            return False
        try:
            with Session(app.extensions["kb_engine"]) as session:
                top = changelog.max_change_id(session)
        except Exception:  # noqa: BLE001 (the database may be briefly away; poll again)
            return False
        return self.known_upto is None or top != self.known_upto or _has_gaps(app)


def _has_gaps(app):
    try:
        state = for_app(app).state()
    except IndexUnavailable:
        return True
    return bool(state and state.get("gaps"))


def syncer_for(app):
    """The Syncer of an app (created by init_app)."""
    return app.extensions["kb_search_syncer"]


_listening = False


def init_app(app):
    """Attach a Syncer to the app and listen for commits that write changes."""
    global _listening
    app.extensions["kb_search_syncer"] = Syncer(app)
    if app.testing:
        # Tests make many apps: close each one's searcher when its context ends.
        app.teardown_appcontext(lambda _exc: for_app(app).close())
    if not _listening:
        event.listen(OrmSession, "after_flush", _note_changes)
        event.listen(OrmSession, "after_commit", _after_commit)
        event.listen(OrmSession, "after_soft_rollback", _forget_changes)
        _listening = True


def _note_changes(session, _flush_context):
    if any(isinstance(obj, Change) for obj in session.new):
        session.info["kb_search_changes"] = True


def _forget_changes(session, _previous_transaction):
    if not session.in_transaction():
        session.info.pop("kb_search_changes", None)


def _after_commit(session):
    if session.in_nested_transaction():
        return  # a savepoint: the changes are not committed until the outer transaction is
    if not session.info.pop("kb_search_changes", False):
        return
    from flask import current_app, has_app_context

    if has_app_context() and "kb_search_syncer" in current_app.extensions:
        current_app.extensions["kb_search_syncer"].notify()
