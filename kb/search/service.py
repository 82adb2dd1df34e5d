"""Search as a service of the app: the one seam through which the rest of Hindsight reaches it.

`init_app` chooses the implementation when the app is created:

- WhooshSearch, following the change log (KB_SEARCH_SYNC=thread or inline): searches the
  index, applies each commit that wrote changes and polls for other servers' changes;
- WhooshSearch, read-only (KB_SEARCH_SYNC=off): searches the index as it was last written
  and never writes it (only `kb search reindex`, asked for by an operator, does);
- NullSearch (SEARCH_BACKEND="null", for tests that do not need search): finds nothing,
  keeps nothing, costs nothing.

The commit listeners are registered on the app's own session factory (kb.db), so only the
sessions of this app tell its search about their changes.
"""

import weakref
from typing import Protocol

from sqlalchemy import event, func, select

from kb import db
from kb.models import Change
from kb.search import applying, reporting
from kb.search import query as search_query
from kb.search.follower import Syncer
from kb.search.index import for_app

EXTENSION = "kb_search"
_NOTED = "kb_search_changes"  # session.info key: this transaction wrote Change rows


class SearchService(Protocol):
    """What the app asks of search."""

    follows: bool  # True when the index is kept up to date with the change log

    def search(self, user, text="", **options):
        """A kb.search.query.SearchResult of what `user` may see."""

    def note_changes(self):
        """A commit in this process wrote changes: get them into the index soon."""

    def rebuild(self, session, *, progress=None, procs=1):
        """Rebuild the index from the database; the number of postmortems indexed."""

    def report_position(self, session):
        """Record how far the index has applied the change log (flushes); False if no index."""

    def status(self, session):
        """A dict describing the index (documents, watermark, lag, size, availability)."""

    def check(self, session):
        """A reporting.CheckReport comparing the index with the database."""

    def lag(self, session):
        """Changes the index has not applied yet, or None when there is no index to follow."""

    def start(self):
        """Make sure the background follower of this process runs (when there is one)."""

    def stop(self):
        """Stop the background follower (tests and orderly shutdown)."""


class WhooshSearch:
    """The Whoosh index of an app; it follows the change log unless `follows` is False."""

    def __init__(self, app, follows=True):
        self.follows = follows
        self.syncer = Syncer(app) if follows else None
        # Weakly: the app holds its service, and tests throw many apps away.
        self._app = weakref.ref(app)

    @property
    def app(self):
        return self._app()

    @property
    def index(self):
        """This process's SearchIndex of the app."""
        return for_app(self.app)

    def search(self, user, text="", **options):
        if self.syncer is not None:
            self.syncer.before_search()
        return search_query.search(self.index, user, text, **options)

    def note_changes(self):
        if self.syncer is not None:
            self.syncer.notify()

    def rebuild(self, session, *, progress=None, procs=1):
        return applying.rebuild(session, self.index, progress=progress, procs=procs)

    def report_position(self, session):
        return reporting.report_position(session, self.index)

    def status(self, session):
        info = reporting.status(session, self.app)
        info["follows"] = self.follows
        return info

    def check(self, session):
        return reporting.check(session, self.app)

    def lag(self, session):
        return reporting.lag(session, self.app)

    def start(self):
        if self.syncer is not None and self.syncer.mode == "thread":
            self.syncer.ensure_running()

    def stop(self):
        if self.syncer is not None:
            self.syncer.stop()


class NullSearch:
    """Search that finds nothing and keeps no index."""

    follows = False

    def search(self, user, text="", **options):
        return search_query.SearchResult(text=text or "", rebuilding=True)

    def note_changes(self):
        return None

    def rebuild(self, session, *, progress=None, procs=1):
        return 0

    def report_position(self, session):
        return False

    def status(self, session):
        pending = session.execute(select(func.count()).select_from(Change)).scalar() or 0
        return {"path": None, "available": False, "documents": 0, "lag": pending}

    def check(self, session):
        return reporting.CheckReport(available=False)

    def lag(self, session):
        return None

    def start(self):
        return None

    def stop(self):
        return None


def init_app(app):
    """Choose the app's search service and listen to its sessions' commits."""
    if app.config.get("SEARCH_BACKEND") == "null":
        service = NullSearch()
    else:
        follows = (app.config.get("SEARCH_SYNC") or "").lower() != "off"
        service = WhooshSearch(app, follows=follows)
    app.extensions[EXTENSION] = service
    if app.testing and isinstance(service, WhooshSearch):
        # Tests make many apps: close each one's searcher when its context ends.
        app.teardown_appcontext(lambda _exc: for_app(app).close())
    if service.follows:
        factory = db.session_factory(app)
        event.listen(factory, "after_flush", _note_changes)
        event.listen(factory, "after_soft_rollback", _forget_changes)
        event.listen(factory, "after_commit", _after_commit_for(service))


def service_for(app):
    """The search service of an app (chosen by init_app)."""
    return app.extensions[EXTENSION]


def _note_changes(session, _flush_context):
    if any(isinstance(obj, Change) for obj in session.new):
        session.info[_NOTED] = True


def _forget_changes(session, _previous_transaction):
    if not session.in_transaction():
        session.info.pop(_NOTED, None)


def _after_commit_for(service):
    def after_commit(session):
        if session.in_nested_transaction():
            return  # a savepoint: nothing is committed until the outer transaction is
        if session.info.pop(_NOTED, False):
            service.note_changes()

    return after_commit
