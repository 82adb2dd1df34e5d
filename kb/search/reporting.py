"""Questions operators ask of the index, and its position among the change log's followers.

Each index reports how far it has applied the change log (a follower named after the server
and the folder), so that the change log is pruned only below it (kb/changelog.py).
"""

import socket
from dataclasses import dataclass, field

from sqlalchemy import func, select

from kb import changelog
from kb.models import Change, Postmortem
from kb.search import schema
from kb.search.index import IndexUnavailable, for_app, read_state


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


# --- questions operators ask ----------------------------------------------------------------


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
