"""Sets of matching documents as numpy masks, per index segment: totals, facets, date order.

Whoosh is good at ranking the top few hits (it skips blocks that cannot make the top 10) but
slow at anything that visits every match in Python: a facet count over 40,000 matches, or a
filter built by running a query. Here postings are read block by block into arrays, boolean
queries become mask operations, and facet counts become array lookups, so their cost no
longer grows with the number of matches in Python. Data that never changes for a segment
(postings of keyword fields, facet values, start dates) is cached per segment id.
"""

import threading
from collections import OrderedDict

import numpy as np
from whoosh import query as wq

from kb.accounts import Scope
from kb.search import schema
from kb.search import whoosh_internals as internals

_EMPTY = np.zeros(0, dtype=np.int32)
_EMPTY_F = np.zeros(0, dtype=np.float32)
MAX_EXPANSION = 2000  # terms a prefix or wildcard may expand to in one segment
DERIVED_SIZE = 64  # SegmentData.derived's arrays
MEMO_SIZE = 20_000  # SegmentCaches.memo's entries (a few numbers each)
_TERM_CACHE_BYTES = 64 * 1024 * 1024  # cached postings of text terms, per segment
_SATURATED_BYTES = 16 * 1024 * 1024  # cached saturated frequencies (scoring), per segment
# No address, no team: the internal postmortems, whatever their status.
EVERYONE = Scope(unpublished=True)


def common_scope(scope):
    """What every reader may read under the same KB_UNPUBLISHED_READERS as `scope`: the
    internal postmortems; of those unpublished only when every reader may read them. Ranking
    statistics and cost decisions are taken over these, so that nothing a reader sees moves
    when a postmortem they may not read (restricted, or an internal draft under `involved`)
    holds a word."""
    return Scope(unpublished=scope.unpublished)


def raw_postings(segreader, field, text, weights=False):
    """The document numbers (and, if asked, the weights) of a term in one segment, deleted
    documents included, as arrays."""
    blocks = internals.term_blocks(segreader, field, internals.term_bytes(segreader, field, text))
    if blocks is None:
        return (_EMPTY, _EMPTY_F) if weights else _EMPTY
    id_parts, weight_parts = [], []
    # Whole blocks decoded with numpy instead of stepping through postings.
    for ids, block_weights, count in blocks:
        id_parts.append(ids)
        if weights:
            if block_weights is None:
                weight_parts.append(np.ones(count, dtype=np.float32))
            elif isinstance(block_weights, float):
                weight_parts.append(np.full(count, block_weights, dtype=np.float32))
            else:
                weight_parts.append(np.asarray(block_weights, dtype=np.float32))
    ids = np.concatenate(id_parts) if id_parts else _EMPTY
    if not weights:
        return ids
    return ids, (np.concatenate(weight_parts) if weight_parts else _EMPTY_F)


def raw_ids(segreader, field, text):
    """The document numbers of a term in one segment (deleted ones included)."""
    return raw_postings(segreader, field, text)


class SegmentData:
    """What never changes for one segment: postings, facet values and start dates."""

    def __init__(self, segreader):
        self.n = segreader.doc_count_all()
        self._keywords = {}
        self._bytes = 0
        self._facets = {}
        self._facet_arrays = {}
        self._started = None
        self._weighted = OrderedDict()
        self._lengths = {}
        self._derived = {}
        self._saturated = OrderedDict()
        self._saturated_bytes = 0
        self._lock = threading.Lock()

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
        cached = self._keywords.get(key)
        if cached is None:
            cached = raw_ids(segreader, field, text)
            if len(cached):  # only terms the index holds: typed values must not grow it
                self._keywords[key] = cached
        return cached

    def weighted(self, segreader, field, text):
        """(ids, weights) of a text term, from a cache bounded by bytes (a common word's
        postings take 400 KB at 50,000 documents)."""
        key = (field, text)
        with self._lock:
            cached = self._weighted.get(key)
            if cached is not None:
                self._weighted.move_to_end(key)
                return cached
        value = raw_postings(segreader, field, text, weights=True)
        if not len(value[0]):
            return value  # a word the segment lacks costs no bytes, so would never leave
        size = value[0].nbytes + value[1].nbytes
        with self._lock:
            if key not in self._weighted:
                self._weighted[key] = value
                self._bytes += size
            while self._bytes > _TERM_CACHE_BYTES and len(self._weighted) > 1:
                _old, (ids, weights) = self._weighted.popitem(last=False)
                self._bytes -= ids.nbytes + weights.nbytes
        return value

    def saturated(self, key, compute):
        """compute() (ids, scores), kept under `key` in a cache bounded by bytes like the
        postings' (kb.search.scoring keeps each word's saturated frequencies here)."""
        with self._lock:
            cached = self._saturated.get(key)
            if cached is not None:
                self._saturated.move_to_end(key)
                return cached
        value = compute()
        size = value[0].nbytes + value[1].nbytes
        with self._lock:
            if key not in self._saturated and size:
                self._saturated[key] = value
                self._saturated_bytes += size
            while self._saturated_bytes > _SATURATED_BYTES and len(self._saturated) > 1:
                _old, (ids, scores) = self._saturated.popitem(last=False)
                self._saturated_bytes -= ids.nbytes + scores.nbytes
        return value

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

    def facet_arrays(self, segreader, field):
        """(values, docs, starts) of one keyword field: the postings of every value that has
        any, one after the other, and where each value's begin; counting every value over a
        mask is then one lookup and one reduceat instead of one lookup per value."""
        if field not in self._facet_arrays:
            held = [(v, ids) for v, ids in self.facet(segreader, field) if len(ids)]
            sizes = np.array([len(ids) for _v, ids in held], dtype=np.int64)
            self._facet_arrays[field] = (
                [v for v, _ids in held],
                np.concatenate([ids for _v, ids in held]) if held else _EMPTY,
                np.concatenate(([0], np.cumsum(sizes)[:-1])) if held else _EMPTY,
            )
        return self._facet_arrays[field]

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
        ids = {_segment_id(r) for r, _o, _s in leaves(searcher)}
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
        key = _segment_id(segreader)
        with self._lock:
            if key not in self._data:
                self._data[key] = SegmentData(segreader)
            return self._data[key]

    def memo(self, segreader, key, compute):
        """compute(), kept for this segment with its current deletions under `key`: for
        figures of a segment that change only when documents in it are deleted (the
        statistics of the words searched, kb.search.scoring)."""
        full = (_segment_id(segreader), segreader.segment().deleted_count(), key)
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
        key = (_segment_id(segreader), segment.deleted_count())
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
        key = (_segment_id(segreader), segreader.segment().deleted_count(), scope)
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


def word_visibility(searcher, caches, scope):
    """visible(field, word): True when a postmortem `scope` may read holds the word (text
    fields; the word's postings are cached as for matching, which needs them next)."""
    segments = [(r, caches.data(r), caches.allowed(r, scope)) for r, _o, _s in leaves(searcher)]

    def visible(field, word):
        for segreader, data, allowed in segments:
            ids = data.postings(segreader, field, word)
            if len(ids) and allowed[ids].any():
                return True
        return False

    return visible


def leaves(searcher):
    """[(segment reader, docnum offset, sub-searcher)] of a searcher, empty indexes skipped."""
    return [
        (reader, offset, sub)
        for (reader, offset), (sub, _o) in zip(
            searcher.reader().leaf_readers(), searcher.leaf_searchers(), strict=True
        )
        if reader.segment() is not None
    ]


def _segment_id(segreader):
    return segreader.segment().segment_id()


def match_mask(q, segreader, subsearcher, data):
    """The documents of one segment that match a Whoosh query, as a boolean mask."""
    n = data.n
    if isinstance(q, wq.Every):
        return np.ones(n, dtype=bool)
    if q is wq.NullQuery:
        return np.zeros(n, dtype=bool)
    if type(q) is wq.Term:
        mask = np.zeros(n, dtype=bool)
        mask[data.postings(segreader, q.fieldname, q.text)] = True
        return mask
    if isinstance(q, wq.And):
        mask = np.ones(n, dtype=bool)
        for sub in q.subqueries:
            mask &= match_mask(sub, segreader, subsearcher, data)
        return mask
    if isinstance(q, wq.Or | wq.DisjunctionMax) and not getattr(q, "minmatch", 0):
        mask = np.zeros(n, dtype=bool)
        for sub in q.subqueries:
            mask |= match_mask(sub, segreader, subsearcher, data)
        return mask
    if isinstance(q, wq.Or) and q.minmatch:  # at least `minmatch` of the subqueries
        counts = np.zeros(n, dtype=np.int16)
        for sub in q.subqueries:
            counts += match_mask(sub, segreader, subsearcher, data)
        return counts >= q.minmatch
    if isinstance(q, wq.Not):
        return ~match_mask(q.query, segreader, subsearcher, data)
    if isinstance(q, wq.AndNot):
        return match_mask(q.a, segreader, subsearcher, data) & ~match_mask(
            q.b, segreader, subsearcher, data
        )
    if isinstance(q, wq.AndMaybe):
        return match_mask(q.a, segreader, subsearcher, data)
    if isinstance(q, wq.Require):
        return match_mask(q.a, segreader, subsearcher, data) & match_mask(
            q.b, segreader, subsearcher, data
        )
    if isinstance(q, wq.MultiTerm):
        mask = np.zeros(n, dtype=bool)
        for i, btext in enumerate(internals.pattern_terms(q, segreader)):
            if i >= MAX_EXPANSION:
                break
            mask[raw_ids(segreader, q.fieldname, btext)] = True
        return mask
    # Phrases and anything rarer: let Whoosh match, one posting at a time.
    mask = np.zeros(n, dtype=bool)
    matcher = q.matcher(subsearcher)
    ids = np.fromiter(matcher.all_ids(), dtype=np.int64)
    mask[ids] = True
    return mask


def facet_counts(segreader, data, mask, fields=schema.FACET_FIELDS):
    """{field: {value: count}} over the documents in `mask` (one segment), values in the
    order of the index's terms."""
    out = {}
    for field in fields:
        values, docs, starts = data.facet_arrays(segreader, field)
        if not len(docs):
            out[field] = {}
            continue
        counted = np.add.reduceat(mask[docs], starts, dtype=np.int64)
        out[field] = {values[i]: int(counted[i]) for i in np.flatnonzero(counted).tolist()}
    return out
