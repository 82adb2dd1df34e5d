"""The index of one app following the change log in this process: right after a local commit
that wrote changes, and on a light poll for changes committed by other servers."""

import logging
import os
import threading
import time
import weakref

from sqlmodel import Session

from kb import changelog
from kb.search.applying import apply_pending
from kb.search.index import IndexUnavailable, for_app
from kb.search.reporting import report_position

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # the background poll for changes made by other servers
KICK_WAIT = 3.0  # after a local save: how long to keep trying for the writer lock
REPORT_SECONDS = 60.0  # how often a server writes its index's position (pruning keeps above it)


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
