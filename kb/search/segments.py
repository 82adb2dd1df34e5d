"""What is kept for each index segment between searches: its postings, facet values, start
dates and lengths (SegmentData, for the segment's lifetime: a segment's documents never
change, only its deletions), and the masks and figures that depend on its deletions or on a
reader's scope (SegmentCaches). Caches of postings are bounded by bytes.
"""

import threading
from collections import OrderedDict

import numpy as np

from kb.search import schema
from kb.search import whoosh_internals as internals
from kb.search.docsets import (
    _EMPTY,
    _EMPTY_F,
    common_scope,
    leaves,
    raw_ids,
    raw_postings,
    segment_id,
)

DERIVED_SIZE = 64  # SegmentData.derived's arrays
MEMO_SIZE = 20_000  # SegmentCaches.memo's entries (a few numbers each)
_TERM_CACHE_BYTES = 64 * 1024 * 1024  # cached postings of text terms, per segment
_SATURATED_BYTES = 16 * 1024 * 1024  # cached saturated frequencies (scoring), per segment
_MASK_BYTES = 8 * 1024 * 1024  # cached masks of the documents holding a term, per segment
# Terms a segment lacks, remembered so that a search does not look them up in its term file
# again (about 20 lookups a search over the small segments the follower writes); past this
# many the memory is emptied: typed words cannot grow it without end.
ABSENT_TERMS = 4_096


_EMPTY_MASK = np.zeros(0, dtype=bool)


class _PairCache:
    """Pairs of arrays (ids, values) by key (ids None: `values` holds every document's);
    past a budget of bytes (`budget()`, read at each addition) the least recently used are
    dropped. A pair without values is never kept: a word the segment lacks costs no bytes,
    so would never leave (SegmentData remembers such words apart, a bounded number)."""

    def __init__(self, budget):
        self._items = OrderedDict()
        self._bytes = 0
        self._budget = budget
        self._lock = threading.Lock()

    def __len__(self):
        return len(self._items)

    def get(self, key, compute):
        with self._lock:
            cached = self._items.get(key)
            if cached is not None:
                self._items.move_to_end(key)
                return cached
        value = compute()
        if not len(value[1]):
            return value
        with self._lock:
            if key not in self._items:
                self._items[key] = value
                self._bytes += _nbytes(value)
            while self._bytes > self._budget() and len(self._items) > 1:
                _old, dropped = self._items.popitem(last=False)
                self._bytes -= _nbytes(dropped)
        return value


def _nbytes(pair):
    return sum(a.nbytes for a in pair if a is not None)


class SegmentData:
    """What never changes for one segment: postings, facet values and start dates."""

    def __init__(self, segreader):
        self.n = segreader.doc_count_all()
        self._keywords = {}
        self._facets = {}
        self._facet_matrix = None
        self._started = None
        self._weighted = _PairCache(lambda: _TERM_CACHE_BYTES)
        self._lengths = {}
        self._derived = {}
        self._saturated = _PairCache(lambda: _SATURATED_BYTES)
        self._masks = _PairCache(lambda: _MASK_BYTES)
        self._absent = set()

    def derived(self, key, compute):
        """compute(), kept for the segment's lifetime under `key`: arrays made from its
        unchanging data (BM25's length norms for a mean length, the status weights). A few
        dozen at most; all dropped when more pile up."""
        value = self._derived.get(key)
        if value is None:
            value = compute()
            if len(self._derived) >= DERIVED_SIZE:
                self._derived.clear()
            self._derived[key] = value
        return value

    def lengths(self, segreader, field):
        """The length of `field` in every document (Whoosh's lossy one-byte encoding); "body"
        is the length of `content` beyond its title and factors."""
        if field == "body" and field not in self._lengths:
            whole, title, factors = (
                self.lengths(segreader, f) for f in (schema.DEFAULT_FIELD, "title", "factors")
            )
            self._lengths[field] = np.maximum(whole - title - factors, 0)
        if field not in self._lengths:
            length = segreader.doc_field_length
            self._lengths[field] = np.fromiter(
                (length(i, field, 0) or 0 for i in range(self.n)), dtype=np.float32, count=self.n
            )
        return self._lengths[field]

    def postings(self, segreader, field, text):
        """The document numbers of a term (deleted documents included)."""
        if field in schema.TEXT_FIELDS:
            return self.weighted(segreader, field, text)[0]
        key = (field, text)  # keyword terms: small, few, kept for the segment's lifetime
        if key in self._absent:
            return _EMPTY
        cached = self._keywords.get(key)
        if cached is None:
            cached = raw_ids(segreader, field, text)
            if len(cached):  # only terms the index holds: typed values must not grow it
                self._keywords[key] = cached
            else:
                self._lacks(key)
        return cached

    def weighted(self, segreader, field, text):
        """(ids, weights) of a text term, from a cache bounded by bytes (a common word's
        postings take 400 KB at 50,000 documents)."""
        key = (field, text)
        if key in self._absent:
            return _EMPTY, _EMPTY_F
        pair = self._weighted.get(key, lambda: raw_postings(segreader, field, text, weights=True))
        if not len(pair[0]):
            self._lacks(key)
        return pair

    def _lacks(self, key):
        """Remember that the segment lacks a term (at most ABSENT_TERMS, then start again)."""
        if len(self._absent) >= ABSENT_TERMS:
            self._absent.clear()
        self._absent.add(key)

    def term_mask(self, segreader, field, text):
        """True for the documents holding a term (deleted ones included), read-only: kept
        in a cache bounded by bytes, so a search combines masks instead of making them (and
        reads no postings for them). The masks of terms the segment lacks are not kept."""

        def compute():
            ids = self.postings(segreader, field, text)
            if not len(ids):
                return None, _EMPTY_MASK  # without values: not kept
            mask = np.zeros(self.n, dtype=bool)
            mask[ids] = True
            mask.flags.writeable = False
            return None, mask

        mask = self._masks.get((field, text), compute)[1]
        return mask if len(mask) else np.zeros(self.n, dtype=bool)

    def saturated(self, key, compute):
        """compute() (ids, scores) or (None, every document's score), kept under `key` in a
        cache bounded by bytes like the postings' (kb.search.scoring keeps each word's
        saturated frequencies here)."""
        return self._saturated.get(key, compute)

    def facet(self, segreader, field):
        """[(value, ids)] of one keyword field."""
        if field not in self._facets:
            values = [
                (
                    term.decode() if isinstance(term, bytes) else term,
                    raw_ids(segreader, field, term),
                )
                for term in segreader.lexicon(field)
            ]
            self._facets[field] = values
        return self._facets[field]

    def facet_matrix(self, segreader):
        """({field: (values, first row, end row)}, matrix): every keyword value of the facet
        fields as a row of one sparse 0/1 matrix over the segment's documents, so that
        counting every value of every facet over a mask is one matrix-vector product (four
        times faster at 25,000 documents than a lookup and a sum per field)."""
        if self._facet_matrix is None:
            from scipy import sparse

            rows, docs, fields, row = [], [], {}, 0
            for field in schema.FACET_FIELDS:
                held = [(v, ids) for v, ids in self.facet(segreader, field) if len(ids)]
                fields[field] = ([v for v, _ids in held], row, row + len(held))
                for _v, ids in held:
                    rows.append(np.full(len(ids), row, dtype=np.int32))
                    docs.append(ids)
                    row += 1
            ones = np.ones(sum(len(d) for d in docs), dtype=np.int32)
            matrix = sparse.csr_matrix(
                (
                    ones,
                    (
                        np.concatenate(rows) if rows else _EMPTY,
                        np.concatenate(docs) if docs else _EMPTY,
                    ),
                ),
                shape=(row, self.n),
            )
            self._facet_matrix = (fields, matrix)
        return self._facet_matrix

    def started(self, segreader):
        """The start time (epoch seconds, 0 when unknown) of every document."""
        if self._started is None:
            if segreader.has_column("started"):
                reader = segreader.column_reader("started")
                self._started = np.fromiter(
                    (reader[i] for i in range(self.n)), dtype=np.int64, count=self.n
                )
            else:
                self._started = np.zeros(self.n, dtype=np.int64)
        return self._started


class SegmentCaches:
    """SegmentData per segment id, and live-document masks per (segment, deletions)."""

    def __init__(self):
        self._data = {}
        self._live = {}
        self._allowed = OrderedDict()
        self._memo = OrderedDict()
        self._lock = threading.Lock()

    def clear(self):
        with self._lock:
            self._data.clear()
            self._live.clear()
            self._allowed.clear()
            self._memo.clear()

    def keep_only(self, searcher):
        """Drop what belongs to segments the searcher no longer has."""
        ids = {segment_id(r) for r, _o, _s in leaves(searcher)}
        with self._lock:
            for key in [k for k in self._data if k not in ids]:
                del self._data[key]
            for key in [k for k in self._live if k[0] not in ids]:
                del self._live[key]
            for key in [k for k in self._allowed if k[0] not in ids]:
                del self._allowed[key]
            for key in [k for k in self._memo if k[0] not in ids]:
                del self._memo[key]

    def data(self, segreader):
        key = segment_id(segreader)
        with self._lock:
            if key not in self._data:
                self._data[key] = SegmentData(segreader)
            return self._data[key]

    def memo(self, segreader, key, compute):
        """compute(), kept for this segment with its current deletions under `key`: for
        figures of a segment that change only when documents in it are deleted (the
        statistics of the words searched, kb.search.scoring)."""
        full = (segment_id(segreader), segreader.segment().deleted_count(), key)
        with self._lock:
            if full in self._memo:
                self._memo.move_to_end(full)
                return self._memo[full]
        value = compute()
        with self._lock:
            self._memo[full] = value
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    def live(self, segreader):
        """True for documents that are neither deleted nor the sync-state document."""
        segment = segreader.segment()
        key = (segment_id(segreader), segment.deleted_count())
        with self._lock:
            cached = self._live.get(key)
        if cached is not None:
            return cached
        data = self.data(segreader)
        mask = np.zeros(data.n, dtype=bool)
        # Every postmortem has a visibility; the state document has none.
        for value in ("internal", "restricted"):
            mask[data.postings(segreader, "visibility", value)] = True
        deleted = internals.deleted_docs(segreader)
        if deleted:
            mask[np.fromiter(deleted, dtype=np.int64, count=len(deleted))] = False
        with self._lock:
            self._live[key] = mask
        return mask

    def common(self, segreader, scope):
        """True for the live postmortems every reader may read (common_scope of `scope`):
        ranking statistics are taken over these alone (scoring.common_statistics)."""
        return self.allowed(segreader, common_scope(scope))

    def allowed(self, segreader, scope):
        """True for the live documents a Scope may see (accounts.Scope's rule, as a mask)."""
        key = (segment_id(segreader), segreader.segment().deleted_count(), scope)
        with self._lock:
            cached = self._allowed.get(key)
            if cached is not None:
                return cached
        live = self.live(segreader)
        if scope.nothing:
            mask = np.zeros_like(live)
        elif scope.everything:
            mask = live
        else:
            data = self.data(segreader)
            mask = np.zeros_like(live)
            mask[data.postings(segreader, "visibility", "internal")] = True
            mask[data.postings(segreader, "acl", f"person:{scope.email}")] = True
            for team in scope.teams:
                mask[data.postings(segreader, "acl", f"team:{team}")] = True
            if not scope.unpublished:  # unpublished ones only for those involved in them
                involved = np.zeros_like(live)
                involved[data.postings(segreader, "status", "published")] = True
                for team in scope.teams:
                    involved[data.postings(segreader, "acl", f"team:{team}")] = True
                for pid in scope.involved:
                    involved[raw_ids(segreader, "pid", str(pid))] = True
                mask &= involved
            mask &= live
        with self._lock:
            self._allowed[key] = mask
            if len(self._allowed) > 256:
                self._allowed.popitem(last=False)
        return mask
