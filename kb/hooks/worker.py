"""The background thread of each server that sends what is due (and, now and then, writes
the day's overdue action items), outside any request.

Started by the first request a server process handles (so each gunicorn worker, forked after
the app was made, has its own), when KB_HOOKS_WORKER is on: the default when serving, off in
tests and CLI commands (`kb hooks deliver` does one round there).
"""

import logging
import os
import threading
import time
import weakref

from flask import request
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from kb.hooks import delivery, events

log = logging.getLogger(__name__)

EXTENSION = "kb_hooks_worker"
OVERDUE_CHECK_SECONDS = 600  # how often a server looks for overdue items (and prunes)


def run_round(app, session, *, now=None, check_overdue=True, limit=delivery.DUE_BATCH):
    """Write the day's overdue items and forget old finished deliveries (when asked), then
    send what is due; a DeliverReport."""
    if check_overdue:
        try:
            events.queue_overdue(session, now=now)
            session.commit()
        except IntegrityError:  # another server wrote today's first: theirs stand
            session.rollback()
        delivery.prune(session, now)
        session.commit()
    timeout = app.config["HOOKS_TIMEOUT"]
    return delivery.deliver_due(session, timeout=timeout, now=now, limit=min(limit, 50))


class Worker:
    """The delivery thread of one app in this process."""

    def __init__(self, app):
        self._app = weakref.ref(app)  # a discarded app (tests) must not be kept alive
        self.poll = float(app.config["HOOKS_POLL_SECONDS"])
        self._wake = threading.Event()
        self._mutex = threading.Lock()
        self._thread = None
        self._pid = None
        self._stopping = False
        self._overdue_at = None

    def ensure_running(self):
        """Start the thread of this process (again after a fork); cheap when it runs."""
        if self._stopping:
            return
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            return
        with self._mutex:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._loop, name="kb-hooks", daemon=True)
            self._thread.start()

    def stop(self, wait=15.0):
        """Stop the thread after its current request (tests, orderly shutdown)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(wait)

    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    def _loop(self):
        while not self._stopping:
            app = self._app()
            if app is None:
                return
            self.run_once(app)
            del app
            self._wake.wait(self.poll)
            self._wake.clear()

    def run_once(self, app):
        """One round; never raises (the next round tries again)."""
        now = time.monotonic()
        overdue = self._overdue_at is None or now - self._overdue_at >= OVERDUE_CHECK_SECONDS
        try:
            with app.app_context(), Session(app.extensions["kb_engine"]) as session:
                run_round(app, session, check_overdue=overdue)
            if overdue:
                self._overdue_at = now
        except Exception:  # noqa: BLE001 (logged; the database may be away for a moment)
            log.exception("sending webhooks failed")


def enabled(app):
    """Whether servers of this app run the thread (KB_HOOKS_WORKER; on unless testing)."""
    value = app.config.get("HOOKS_WORKER")
    if value in (None, ""):
        return not app.testing
    return str(value).strip().lower() in ("1", "on", "true", "yes")


def init_app(app):
    """Make the app's worker; its first request starts the thread when enabled. Left to its
    default, only a request through a server starts it: an app a script or a test drives with
    Flask's test client (which names no SERVER_SOFTWARE) sends nothing in the background."""
    worker = app.extensions[EXTENSION] = Worker(app)
    if app.config.get("HOOKS_WORKER") in (None, ""):
        if enabled(app):
            app.before_request(_when_served(worker))
    elif enabled(app):
        app.before_request(worker.ensure_running)
    return worker


def _when_served(worker):
    def start():
        if request.environ.get("SERVER_SOFTWARE"):  # gunicorn, `kb run`; not a test client
            worker.ensure_running()

    return start


def worker_for(app):
    return app.extensions[EXTENSION]
