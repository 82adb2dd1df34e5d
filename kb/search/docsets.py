"""Sets of matching documents as numpy masks, per index segment: totals, facets, date order.

Whoosh is good at ranking the top few hits (it skips blocks that cannot make the top 10) but
slow at anything that visits every match in Python: a facet count over 40,000 matches, or a
filter built by running a query. Here postings are read block by block into arrays, boolean
queries become mask operations, and facet counts become array lookups, so their cost no
longer grows with the number of matches in Python. What is kept per segment between
searches (postings, facet values, start dates, visibility masks) is in kb.search.segments.
"""

import numpy as np
from whoosh import query as wq

from kb.accounts import Scope
from kb.search import schema
from kb.search import whoosh_internals as internals

_EMPTY = np.zeros(0, dtype=np.int32)
_EMPTY_F = np.zeros(0, dtype=np.float32)
MAX_EXPANSION = 2000  # terms a prefix or wildcard may expand to in one segment
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


def segment_id(segreader):
    return segreader.segment().segment_id()


def match_mask(q, segreader, subsearcher, data):
    """The documents of one segment that match a Whoosh query, as a boolean mask."""
    n = data.n
    if isinstance(q, wq.Every):
        return np.ones(n, dtype=bool)
    if q is wq.NullQuery:
        return np.zeros(n, dtype=bool)
    if type(q) is wq.Term:
        return data.term_mask(segreader, q.fieldname, q.text)  # read-only: kept for others
    if isinstance(q, wq.And | wq.Or | wq.DisjunctionMax) and not getattr(q, "minmatch", 0):
        combine = np.logical_and if isinstance(q, wq.And) else np.logical_or
        masks = [match_mask(sub, segreader, subsearcher, data) for sub in q.subqueries]
        if not masks:
            return np.full(n, isinstance(q, wq.And), dtype=bool)
        mask = masks[0].copy()
        for other in masks[1:]:
            combine(mask, other, out=mask)
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
    rows, matrix = data.facet_matrix(segreader)
    counted = matrix @ mask.view(np.uint8) if matrix.shape[0] else _EMPTY
    out = {}
    for field in fields:
        values, first, end = rows[field]
        held = np.flatnonzero(counted[first:end]).tolist()
        out[field] = {values[i]: int(counted[first + i]) for i in held}
    return out
