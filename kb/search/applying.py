"""Applying the change log to the index, and rebuilding the index from the database.

Every save writes a Change row in its own transaction (kb/postmortems.py). Applying a change
means: read the postmortem's CURRENT state from the database and upsert it (or delete it when
it is gone). That makes applying idempotent and insensitive to order. The index stores which
changes it has applied in a special document committed atomically with the documents, so a
crash between the database commit and the index write loses nothing: the next run re-applies.

The state keeps a kb.changelog.Cursor (the highest id applied and the gaps below it that
have not committed yet), so a change id that becomes visible after a higher one is not missed.
An index found behind the pruned point of the change log (its server was away longer than
followers are remembered) is rebuilt.

One writer per index folder at a time: an OS file lock, tried without blocking. Whoosh's own
AsyncWriter and buffered writers lose documents under contention; here nobody waits and
nothing is lost, because whoever holds the lock applies everything pending.
"""

import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy import select
from whoosh import writing

from kb import changelog
from kb.models import Change
from kb.search import bulk, schema
from kb.search.documents import (
    fields_of,
    id_ranges,
    iter_all_documents,
    iter_all_sources,
    load_documents,
)
from kb.search.index import IndexUnavailable, bulk_writer, read_state, state_fields
from kb.search.index import writer as new_writer

log = logging.getLogger(__name__)

BATCH = 500  # changes applied per index commit


@dataclass
class ApplyReport:
    busy: bool = False  # another process holds the writer lock (it applies everything)
    rebuilt: int = 0  # documents written by a full rebuild
    applied: int = 0  # changes applied
    upserted: int = 0
    deleted: int = 0
    pruned_rebuilds: int = 0  # rebuilds because the change log was pruned past the index


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
    writer = new_writer(ix, timeout=10.0)
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


# --- rebuilding -----------------------------------------------------------------------------


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


def _write_all(ix, documents, state, progress):
    writer = bulk_writer(ix)
    count = 0
    try:
        for fields in documents:
            writer.add_document(**fields)
            count += 1
            if progress:
                progress(1)
        writer.add_document(**state)
        # CLEAR: the new segment replaces every old one in one commit (readers switch at once).
        writer.commit(mergetype=writing.CLEAR)
    except BaseException:
        _abandon(writer)
        raise
    return count


def _rebuild_locked(session, idx, ix, progress, procs):
    # The watermark is read BEFORE the documents: whatever changes after it is applied later.
    cursor = changelog.Cursor.at_top(session)
    # This version's schema objects, whatever the old index was written with (its field
    # types index faster; what they write is the same).
    ix = idx.create_empty() if ix is None else idx.open_for_rebuild()
    state = state_fields({"schema": schema.SCHEMA_VERSION, **cursor.state()})
    if procs > 1:
        ranges = [
            iter_all_sources(session, after=after, upto=upto)
            for after, upto in id_ranges(session, procs)
        ]
        count = bulk.write_in_parallel(
            ix, ranges, convert=fields_of, extra=[state], progress=progress
        )
    else:
        count = _write_all(ix, iter_all_documents(session), state, progress)
    session.rollback()
    idx.close()
    return count
