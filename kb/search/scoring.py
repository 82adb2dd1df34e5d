"""BM25F scores of every match at once, with numpy: BM25F proper for plain words, Whoosh's
formula for words of one field (both with Lucene's IDF), and Whoosh's way of adding up
the parts of a query, over statistics that depend on nothing a reader may not see.

Whoosh's collector would visit each match in Python (its block skipping rarely helps when most
documents hold the words). Here each word's postings (cached per segment by
kb.search.segments) become one array operation. tests/test_search_engine_contract.py compares
these scores with Whoosh's own.
"""

import math
from dataclasses import dataclass
from functools import partial

import numpy as np
from whoosh import query as wq
from whoosh.searching import Searcher

from kb.search import schema
from kb.search import whoosh_internals as internals
from kb.search.docsets import MAX_EXPANSION, match_mask

K1, B = 1.2, 0.75  # Whoosh's (and Lucene's) BM25 defaults
# A plain word is searched in `content`, which holds the title, the contributing factors and
# the rest of the text (the body) one after the other. It is scored by BM25F proper
# (Robertson, Zaragoza and Taylor, 2004): each part's term frequency is normalised by the
# length of that part against its mean, weighted (schema.BOOSTS), and the sum is saturated
# once. Whoosh's formula over the whole of `content` normalised a title word by the length
# of the body: a long write-up diluted a title match that a short one did not. The parts'
# frequencies come from the index as it is: `title` and `factors` are fields of their own,
# and a `content` posting's weight is 3 x (title) + 2 x (factors) + 1 x (body) occurrences.
PARTS = ("title", "factors", "body")
PART_B = dict.fromkeys(PARTS, B)  # the usual default for each part, not fitted to any data
# A word held by this share of a segment's documents or more keeps its saturated frequencies
# as one value per document (0 where absent): scored in one contiguous pass, not an indexed
# one, for at most twice the bytes of ids and values.
DENSE_SHARE = 0.25


def idf(n, df):
    """BM25's inverse document frequency as Lucene and Elasticsearch compute it (and their
    BM25F, `combined_fields`): a word most postmortems hold counts next to nothing. Whoosh's
    log(N / (df + 1)) + 1 gives such a word a third of a rare word's weight, which lets the
    common words of a long question outweigh the one rare word that names the incident."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def scoring_terms(q, segreader):
    """[(field, text, boost)] of the words that may add to a document's score (not under NOT,
    nor in the second part of a Require, which Whoosh only matches)."""
    out = []
    if isinstance(q, wq.Term):
        out.append((q.fieldname, q.text, q.boost))
    elif isinstance(q, wq.MultiTerm):
        for i, btext in enumerate(internals.pattern_terms(q, segreader)):
            if i >= MAX_EXPANSION:
                break
            out.append((q.fieldname, btext, q.boost * 0.5))  # a guess counts less than a word
    elif isinstance(q, wq.Not):
        pass
    elif isinstance(q, wq.AndNot | wq.AndMaybe | wq.Require):
        out += scoring_terms(q.a, segreader)
        if isinstance(q, wq.AndMaybe):
            out += scoring_terms(q.b, segreader)
    elif isinstance(q, wq.Phrase):
        out += [(q.fieldname, w, q.boost) for w in q.words]
    elif hasattr(q, "subqueries"):
        for sub in q.subqueries:
            out += scoring_terms(sub, segreader)
    elif hasattr(q, "child"):
        out += scoring_terms(q.child, segreader)
    return out


def ranks_by_words(q, segreader):
    """True when the query has words to rank by (not only field filters or NOT)."""
    return any(f in schema.TEXT_FIELDS for f, _t, _b in scoring_terms(q, segreader))


def _ranking_terms(q, segreader):
    """[(field, text, boost)] of scoring_terms in text fields, texts as str."""
    out = []
    for field, text, boost in scoring_terms(q, segreader):
        if field not in schema.TEXT_FIELDS:
            continue  # keyword fields filter; they never add to a score
        if isinstance(text, bytes):
            text = segreader.schema[field].from_bytes(text)
        out.append((field, text, boost))
    return out


@dataclass(frozen=True)
class Statistics:
    """What BM25 takes from the whole collection: each word's IDF, each field's mean length."""

    idf: dict
    average: dict


def common_statistics(q, caches, segments, scope):
    """Statistics of the words of `q` over the live postmortems every reader may read
    (docsets.common_scope of `scope`: the internal ones, published unless every reader may
    read unpublished ones) in every segment.

    Whoosh's own statistics count every document, so a score would move when a restricted
    postmortem (or an internal draft only those involved may read) holding the word, or only
    its length, was added: someone who may not read it could tell from the order of what
    they see. Over postmortems everyone may read, a score depends on nothing a reader may not
    see. The IDF is `idf` above; the mean lengths are Whoosh's. `segments`: [(segment
    reader, ...)] as in ranking.run; `caches`: a segments.SegmentCaches.
    """
    terms = {(f, t) for segreader, *_rest in segments for f, t, _b in _ranking_terms(q, segreader)}
    fields = {f for f, _t in terms}
    if schema.DEFAULT_FIELD in fields:  # BM25F of `content` takes the mean length of its parts
        fields |= {"title", "factors"}
    frequency = dict.fromkeys(terms, 0)
    total_length = dict.fromkeys(fields, 0.0)
    count = 0
    for segreader, *_rest in segments:
        held, df, others = _segment_figures(caches, segreader, scope, terms, fields)
        count += held
        for term, value in df.items():
            frequency[term] += value
        for field, value in others.items():
            # A document's length is kept in one byte, rounded up from 11 words on; the
            # segment's total is exact. Taking the others away from the total gives Whoosh's
            # own average when every document is a live internal one.
            total_length[field] += max(segreader.field_length(field) - value, 0.0)
    n = max(count, 1)
    if schema.DEFAULT_FIELD in fields:
        # The body is what `content` holds beyond its title and factors.
        total_length["body"] = max(
            total_length[schema.DEFAULT_FIELD] - total_length["title"] - total_length["factors"],
            0.0,
        )
    return Statistics(
        idf={term: idf(n, df) for term, df in frequency.items()},
        average={field: (total / n) or 1.0 for field, total in total_length.items()},
    )


def _segment_figures(caches, segreader, scope, terms, fields):
    """(live postmortems everyone may read, {term: how many of them hold it}, {field: the
    summed length of the other documents}) of one segment. Each figure changes only when
    documents of the segment are deleted, so it is kept (SegmentCaches.memo) and a search
    recounts only the words it has not met."""
    data = caches.data(segreader)
    internal = caches.common(segreader, scope)

    def memo(key, compute, *args):
        # common_scope(scope), which `internal` is, depends on scope.unpublished alone.
        return caches.memo(segreader, (scope.unpublished, *key), partial(compute, *args))

    count = memo(("count",), np.count_nonzero, internal)
    df = {(f, t): memo(("df", f, t), _held, data, segreader, f, t, internal) for f, t in terms}
    others = {f: memo(("others", f), _others, data, segreader, f, internal) for f in fields}
    return int(count), df, others


def _held(data, segreader, field, text, internal):
    ids = data.weighted(segreader, field, text)[0]
    return int(np.count_nonzero(internal[ids])) if len(ids) else 0


def _others(data, segreader, field, internal):
    return float(data.lengths(segreader, field)[~internal].sum())


def bm25_scores(q, segreader, data, stats, mask):
    """BM25F scores (the formulas above; the statistics of common_statistics) of the
    documents in `mask`, computed for all of them at once; 0 for documents outside it.

    As in Whoosh, the words of an OR's branch, of an ANDMAYBE's optional part or of a phrase
    count for a document only when it matches that branch, part or phrase.
    """
    scores = np.zeros(data.n, dtype=np.float32)
    _add_scores(q, _Segment(segreader, data, stats), scores, None)
    scores[~mask] = 0
    return scores


class _Segment:
    """One segment's reader, cached data and statistics, and a searcher made when needed."""

    def __init__(self, segreader, data, stats):
        self.reader, self.data, self.stats = segreader, data, stats
        self._searcher = None
        self._inverse_norms = {}

    def inverse_norm(self, part):
        """1 / BM25's length normalisation of a part of `content`, for every document of the
        segment (made once per segment and mean length: the mean moves only when the
        collection changes)."""
        if part not in self._inverse_norms:
            average = self.stats.average[part]
            self._inverse_norms[part] = self.data.derived(
                ("inverse norm", part, average), partial(self._inverse_norm, part, average)
            )
        return self._inverse_norms[part]

    def _inverse_norm(self, part, average):
        b = PART_B[part]
        return 1 / ((1 - b) + b * self.data.lengths(self.reader, part) / average)

    def mask(self, q):
        if self._searcher is None:  # phrases need one; closing it must not close the reader
            self._searcher = Searcher(self.reader, closereader=False)
        return match_mask(q, self.reader, self._searcher, self.data)


def _add_scores(q, segment, scores, within):
    """Add the scores of the words of `q` to the documents of `within` (None: to all) that
    hold them; correct for every document that matches `q`."""
    if isinstance(q, wq.Not):
        return
    if isinstance(q, wq.AndNot | wq.Require):  # Whoosh scores the first part only
        required, optional = [q.a], []
    elif isinstance(q, wq.AndMaybe):
        required, optional = [q.a], [q.b]
    elif isinstance(q, wq.Or | wq.DisjunctionMax):
        required, optional = [], q.subqueries
    elif isinstance(q, wq.And):
        required, optional = q.subqueries, []
    else:  # words, patterns and phrases: a match holds every word it is scored by
        for field, text, boost in _ranking_terms(q, segment.reader):
            _add_word(segment, scores, within, field, text, boost)
        return
    for sub in required:
        _add_scores(sub, segment, scores, within)
    for sub in optional:
        sub_within = within
        if not isinstance(sub, wq.Term | wq.MultiTerm):  # a word scores its own postings only
            sub_mask = segment.mask(sub)
            sub_within = sub_mask if within is None else within & sub_mask
        _add_scores(sub, segment, scores, sub_within)


def _add_word(segment, scores, within, field, text, boost):
    ids, saturated = _saturated(segment, field, text)
    if ids is None:  # a common word: a frequency (0 where it is absent) for every document
        weight = boost * segment.stats.idf[field, text]
        scores += weight * (saturated if within is None else saturated * within)
        return
    if within is not None and len(ids):
        keep = within[ids]
        ids, saturated = ids[keep], saturated[keep]
    if len(ids):
        scores[ids] += (boost * segment.stats.idf[field, text]) * saturated


def _saturated(segment, field, text):
    """(ids, BM25's saturated term frequency in each): everything of a word's score but its
    IDF and boost. It depends on the word's postings and the mean lengths alone, so it is
    kept per segment (SegmentData.saturated) until a mean length moves."""
    stats = segment.stats
    if field == schema.DEFAULT_FIELD:
        means = tuple(stats.average[part] for part in PARTS)
    else:
        means = (stats.average[field],)

    def compute():
        ids, tf = segment.data.weighted(segment.reader, field, text)
        if not len(ids):
            return ids, tf
        if field == schema.DEFAULT_FIELD:
            tf = _bm25f_frequency(segment, text, ids, tf)
            saturated = (tf * (K1 + 1)) / (tf + K1)
        else:
            lengths = segment.data.lengths(segment.reader, field)[ids]
            norm = (1 - B) + B * lengths / stats.average[field]
            saturated = (tf * (K1 + 1)) / (tf + K1 * norm)
        if len(ids) < DENSE_SHARE * segment.data.n:
            return ids, saturated
        # Held by many documents: one value per document, added to the scores in one
        # contiguous pass instead of an indexed one, at most twice the bytes of the pair.
        dense = np.zeros(segment.data.n, dtype=np.float32)
        dense[ids] = saturated
        return None, dense

    return segment.data.saturated((field, text, means), compute)


def _bm25f_frequency(segment, text, ids, weights):
    """BM25F's pseudo-frequency of a `content` word in the documents `ids` (sorted; their
    `content` postings weigh `weights`): each part's occurrences over that part's normalised
    length, weighted by the part's boost, summed.

    Computed as if every occurrence were in the body (weights / body's norm), then corrected
    for the title's and the factors' occurrences, which are few: one pass over the word's
    postings instead of three."""
    body = segment.inverse_norm("body")
    out = weights * body[ids]
    for part, boost in zip(PARTS, schema.BOOSTS, strict=True):
        if part == "body":
            continue
        part_ids, part_tf = segment.data.weighted(segment.reader, part, text)
        if not len(part_ids):
            continue
        at = np.searchsorted(ids, part_ids)
        held = at < len(ids)
        held[held] = ids[at[held]] == part_ids[held]  # not left out by `within`
        docs = part_ids[held]
        # A body occurrence counts 1 / norm(body); one of this part, boost / norm(part).
        out[at[held]] += part_tf[held] * boost * (segment.inverse_norm(part)[docs] - body[docs])
    return np.maximum(out, 0)
