"""The similar-incidents index held in memory: term -> (postmortem ids, weights) as numpy arrays.

The rows of PostmortemTerm change only when themes are rebuilt (a new ThemeRun, written in
the same transaction), so each process reads them once per rebuild and then scores a lookup
with numpy: summing the products of weights over ~20,000 postings took the database 40-60 ms
per lookup at 50,000 postmortems; here it takes about a millisecond. Visibility is not
decided here: callers check the best candidates against the database (kb.insights.similar).

In a server worker (after warm_in_background) a rebuild is read in a background thread while
lookups keep using the previous index; elsewhere (tests, commands) it is read at once.
"""

import logging
import threading

import numpy as np
from sqlalchemy import select
from sqlmodel import Session

from kb.db import per_engine
from kb.models import PostmortemTerm, ThemeRun

log = logging.getLogger(__name__)


class Postings:
    """One rebuild's index: every term's postings, sorted by term."""

    def __init__(self, version, rows):
        self.version = version
        codes, self.span = {}, {}
        term_codes = np.fromiter(
            (codes.setdefault(term, len(codes)) for term, _pm, _w in rows), np.int64, len(rows)
        )
        order = np.argsort(term_codes, kind="stable")
        self.ids = np.fromiter((r[1] for r in rows), np.int64, len(rows))[order]
        self.weights = np.fromiter((r[2] for r in rows), np.float64, len(rows))[order]
        sorted_codes = term_codes[order]
        if len(rows):
            starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
            stops = np.r_[starts[1:], len(rows)]
            names = list(codes)
            for code, start, stop in zip(
                sorted_codes[starts].tolist(), starts.tolist(), stops.tolist(), strict=True
            ):
                self.span[names[code]] = (start, stop)

    def scores(self, weights):
        """(postmortem ids, scores) of every postmortem sharing a term with `weights`
        ({term: weight}), best first; ties by id."""
        ids, products = [], []
        for term, weight in weights.items():
            start, stop = self.span.get(term, (0, 0))
            if stop > start:
                ids.append(self.ids[start:stop])
                products.append(self.weights[start:stop] * weight)
        if not ids:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        every, products = np.concatenate(ids), np.concatenate(products)
        candidates, inverse = np.unique(every, return_inverse=True)
        totals = np.bincount(inverse, weights=products, minlength=len(candidates))
        order = np.lexsort((candidates, -totals))
        return candidates[order], totals[order]


class _Holder:
    """The current Postings of one database in this process."""

    def __init__(self):
        self.lock = threading.Lock()
        self.postings = None
        self.loading = None  # the version being read in the background
        self.background = False


_holder = per_engine(_Holder)


def _version(session):
    return session.execute(
        select(ThemeRun.id, ThemeRun.fingerprint, ThemeRun.revision)
        .order_by(ThemeRun.id.desc())
        .limit(1)
    ).first()


def _read(session, version):
    rows = session.execute(
        select(PostmortemTerm.term, PostmortemTerm.postmortem_id, PostmortemTerm.weight)
    ).all()
    return Postings(None if version is None else tuple(version), rows)


def current(session):
    """The index of the latest rebuild `session` sees (or, while a worker reads a newer one
    in the background, the one before it)."""
    engine = session.get_bind()
    holder = _holder(engine)
    version = _version(session)
    version = None if version is None else tuple(version)
    with holder.lock:
        postings = holder.postings
        if postings is not None and postings.version == version:
            return postings
        if postings is not None and holder.background:
            if holder.loading != version:
                holder.loading = version
                threading.Thread(
                    target=_load_in_background, args=(engine, holder), daemon=True
                ).start()
            return postings
        holder.postings = _read(session, version)
        return holder.postings


def _load_in_background(engine, holder):
    try:
        with Session(engine) as session:
            postings = _read(session, _version(session))
        with holder.lock:
            holder.postings = postings
    except Exception:  # noqa: BLE001 (the next lookup tries again)
        log.exception("reading the similar-incidents index failed")
    finally:
        with holder.lock:
            holder.loading = None


def warm_in_background(app):
    """Read the index of `app`'s database in a background thread, and from then on read
    each rebuild in the background too (lookups meanwhile use the previous one)."""
    engine = app.extensions["kb_engine"]
    holder = _holder(engine)

    def run():
        try:
            with Session(engine) as session:
                current(session)
        except Exception:  # noqa: BLE001 (the first lookup reads it instead)
            log.exception("reading the similar-incidents index failed")
        holder.background = True

    thread = threading.Thread(target=run, name="kb-similar-warm", daemon=True)
    thread.start()
    return thread
