"""Running a query over the index: the visibility mask, totals, facet counts and the ranked
(or newest-first) page of hits."""

import numpy as np
from whoosh import query as wq

from kb.search import docsets, highlight, schema, scoring, synonyms
from kb.search.results import Facet, FacetValue

FACET_PARAM = {field: param for field, _label, param in schema.FACETS}
FACET_FIELD = {param: field for field, _label, param in schema.FACETS}


def _filter_query(filters):
    terms = []
    for param, values in filters.items():
        field_name = FACET_FIELD.get(param, param)
        for value in values:
            terms.append(wq.Term(field_name, value.lower()))
    return terms


# A phrase is matched by Whoosh, position by position, in every document holding all its
# words: about 17 microseconds each, 0.7 s for a phrase of two common words at 50,000
# postmortems. A synonym that is a phrase is searched only while the postmortems every
# reader may read holding all its words stay within this budget (per query, shared by its phrases).
MAX_PHRASE_CANDIDATES = 2000


def affordable(q, searcher, caches, scope):
    """(query, skipped): `q` without the phrase synonyms whose candidate documents exceed
    the budget, and the words of those left out."""
    budget = [MAX_PHRASE_CANDIDATES]
    skipped = set()

    def candidates(phrase):
        count = 0
        for segreader, _offset, _sub in docsets.leaves(searcher):
            data = caches.data(segreader)
            # What every reader may read, as for the ranking statistics: whether a synonym
            # is searched must not depend on what a postmortem the reader may not read holds.
            mask = caches.common(segreader, scope).copy()
            for word in phrase.words:
                held = np.zeros(data.n, dtype=bool)
                held[data.postings(segreader, phrase.fieldname, word)] = True
                mask &= held
            count += int(np.count_nonzero(mask))
        return count

    def walk(node):
        if isinstance(node, synonyms.SynonymOr):
            kept = []
            for sub in node.subqueries:
                if isinstance(sub, wq.Phrase) and sub.boost < node.subqueries[0].boost:
                    cost = candidates(sub)
                    if cost > budget[0]:
                        skipped.add(tuple(sub.words))
                        continue
                    budget[0] -= cost
                kept.append(sub)
            return synonyms.SynonymOr(kept) if len(kept) > 1 else kept[0]
        return node.apply(walk) if node.children() else node

    return walk(q), skipped


def run(searcher, caches, scope, q, result):
    """Fill total, facets and the page of hits of `result` for query `q`."""
    if scope.nothing:
        result.total, result.hits, result.facets = 0, [], _facets({}, result.filters)
        return
    filter_terms = _filter_query(result.filters)
    whole = wq.And([q, *filter_terms]) if filter_terms else q
    segments = []
    total = 0
    counts = {f: {} for f in schema.FACET_FIELDS}
    for segreader, offset, subsearcher in docsets.leaves(searcher):
        data = caches.data(segreader)
        allowed = caches.allowed(segreader, scope)
        mask = docsets.match_mask(whole, segreader, subsearcher, data) & allowed
        total += int(np.count_nonzero(mask))
        for f, values in docsets.facet_counts(segreader, data, mask).items():
            for value, c in values.items():
                counts[f][value] = counts[f].get(value, 0) + c
        segments.append((segreader, offset, data, mask, allowed, subsearcher))
    result.total = total
    result.facets = _facets(counts, result.filters)
    result.hits = []
    if total == 0:
        return
    start = (result.page - 1) * result.per_page
    if start >= total:
        return
    by_words = segments and scoring.ranks_by_words(q, segments[0][0])
    if result.sort == "newest" or not by_words:  # nothing to rank by: newest first
        docnums = _newest(segments, start + result.per_page)[start:]
        scored = [(d, None) for d in docnums]
    else:
        scored = _ranked(caches, scope, whole, segments, start + result.per_page)[start:]
    terms = highlight.terms_of(searcher, q)
    result.hits = [highlight.hit(searcher, docnum, score, terms) for docnum, score in scored]


def _newest(segments, limit):
    if not segments:
        return []
    docnums, started = [], []
    for segreader, offset, data, mask, _allowed, _sub in segments:
        ids = np.flatnonzero(mask)
        values = data.started(segreader)[ids]
        if len(ids) > limit:  # only the newest `limit` of each segment can make the page
            keep = np.argpartition(-values, limit - 1)[:limit]
            ids, values = ids[keep], values[keep]
        docnums.append(ids + offset)
        started.append(values)
    docnums = np.concatenate(docnums)
    started = np.concatenate(started)
    # Newest first; the same start time falls back to the later document.
    order = np.lexsort((-docnums, -started))[:limit]
    return [int(d) for d in docnums[order]]


# Drafts and postmortems in review count a little less than published ones: at equal (or
# nearly equal) relevance the reviewed write-up comes first, while a draft that matches
# clearly better still ranks above. A tie-break alone would reorder only exact ties, which
# BM25F scores of different texts almost never are.
UNPUBLISHED_WEIGHT = 0.75


def _status_weights(segreader, data):
    def make():
        weights = np.full(data.n, UNPUBLISHED_WEIGHT, dtype=np.float32)
        weights[data.postings(segreader, "status", "published")] = 1.0
        return weights

    return data.derived(("status weights",), make)


def _scores(q, segreader, data, stats, mask):
    """BM25F scores of a query whose words may carry synonyms: a word and its synonyms
    count as one word, scored by the best of them, so that a document naming the same thing
    in four ways does not outrank one naming it once in the words typed."""
    if isinstance(q, synonyms.SynonymOr):
        parts = [_scores(sub, segreader, data, stats, mask) for sub in q.subqueries]
        return np.maximum.reduce(parts)
    if type(q) in (wq.And, wq.Or) and _has_synonyms(q):
        return np.add.reduce([_scores(sub, segreader, data, stats, mask) for sub in q.subqueries])
    return scoring.bm25_scores(q, segreader, data, stats, mask)


def _has_synonyms(q):
    return isinstance(q, synonyms.SynonymOr) or any(_has_synonyms(s) for s in q.children())


def _ranked(caches, scope, q, segments, limit):
    # Scored in numpy over every match: Whoosh's collector would visit each match in Python
    # (its block-skipping rarely helps when most documents hold the words). The statistics
    # are those of the postmortems every reader may read, the same for every user.
    stats = scoring.common_statistics(q, caches, segments, scope)
    candidates, scores = [], []
    for segreader, offset, data, mask, _allowed, _sub in segments:
        seg_scores = _scores(q, segreader, data, stats, mask)
        seg_scores *= _status_weights(segreader, data)
        ids = np.flatnonzero(mask)
        if len(ids) > limit:
            top = np.argpartition(-seg_scores[ids], limit - 1)[:limit]
            ids = ids[top]
        candidates.append(ids + offset)
        scores.append(seg_scores[ids])
    if not candidates:
        return []
    docnums = np.concatenate(candidates)
    values = np.concatenate(scores)
    order = np.lexsort((docnums, -values))[:limit]
    return [(int(docnums[i]), float(values[i])) for i in order]


def _facets(counts, filters):
    out = []
    for field_name, label, param in schema.FACETS:
        selected = {v.lower() for v in filters.get(param, ())}
        values = counts.get(field_name, {})
        ordered = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
        if field_name in ("year",):
            ordered = sorted(values.items(), reverse=True)
        if field_name == "severity":
            ordered = sorted(values.items())
        shown = [FacetValue(_display(field_name, v), c, v in selected) for v, c in ordered[:12]]
        for v in selected - set(values):
            shown.append(FacetValue(_display(field_name, v), 0, True))
        out.append(Facet(field_name, label, param, shown))
    return out


def _display(field_name, value):
    if field_name == "severity":
        return value.upper()
    return value
