"""A Hindsight app that stops in the middle of saving a postmortem whose title holds a marker,
so a test can SIGKILL the worker right there. Used only by tests/test_ops_faults.py.

Markers: "PAUSE-AT-first-flush" stops after the first flush (the postmortem row is written,
its labels and revision not yet); "PAUSE-AT-before-commit" stops with everything written and
nothing committed. KB_FAULT_MARKER_FILE: where the worker writes its pid once it is stuck.
"""

import os
import time

from sqlalchemy import event
from sqlalchemy.orm import Session

from kb import create_app
from kb.models import Postmortem

app = create_app()


def _pause_here():
    with open(os.environ["KB_FAULT_MARKER_FILE"], "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(120)  # the test kills us long before this ends


def _marked(session, point):
    marker = f"PAUSE-AT-{point}"
    objects = list(session.new) + list(session.dirty) + list(session.identity_map.values())
    return any(isinstance(o, Postmortem) and marker in (o.title or "") for o in objects)


@event.listens_for(Session, "after_flush")
def _after_flush(session, _context):
    if _marked(session, "first-flush"):
        _pause_here()


@event.listens_for(Session, "before_commit")
def _before_commit(session):
    if _marked(session, "before-commit"):
        session.flush()
        _pause_here()
