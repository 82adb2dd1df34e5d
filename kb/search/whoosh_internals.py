"""Every private part of Whoosh-Reloaded the search engine reads, one small function each.

Checked against whoosh-reloaded 2.7.5 (CHECKED_VERSION; pyproject.toml pins >=2.7.5,<2.8).
The engine (kb.search.docsets) reads postings block by block straight from the segment's
term file, and the index (kb.search.index) opens segment readers from the table of contents
itself; Whoosh offers no public way to do either. A new Whoosh version may rename or reshape
any of these: before raising the pin, run tests/test_search_engine_contract.py, which builds
random indexes and compares the engine's matches, scores and facet counts with Whoosh's own,
and check each function below against the new source.
"""

import numpy as np

CHECKED_VERSION = (2, 7, 5)


def term_bytes(segreader, field, text):
    """The indexed bytes of a term's text in `field` (bytes pass through unchanged)."""
    return text if isinstance(text, bytes) else segreader._text_to_bytes(field, text)


def term_matcher(segreader, field, btext):
    """The segment's raw posting matcher of a term (deleted documents included), or None
    when the segment does not hold the term.

    SegmentReader.postings() wraps this matcher to skip deleted documents one posting at a
    time; the engine masks deleted documents itself, with arrays.
    """
    terms = segreader._terms  # the segment's term file reader (codec.whoosh3.W3TermsReader)
    if (field, btext) not in terms:
        return None
    return terms.matcher(field, btext, segreader.schema[field].format)


def posting_blocks(matcher):
    """Yield (document numbers, weights, count) for each block of a raw posting matcher.

    Document numbers are an int32 array; weights are None (every weight is 1), a float (the
    same weight for the whole block) or a sequence of floats. Whoosh's W3LeafMatcher keeps a
    block as the tuple `_data` = (ids, weights, values), read lazily by `_read_data()`;
    the ids are deltas unless `_byteids` says they are stored whole as bytes.
    """
    while matcher.is_active():
        if matcher._data is None:
            matcher._read_data()
        deltas, weights = matcher._data[0], matcher._data[1]
        if matcher._byteids:
            ids = np.asarray(deltas, dtype=np.int32)
        else:
            ids = np.cumsum(np.asarray(deltas, dtype=np.int64)).astype(np.int32)
        yield ids, weights, matcher._blocklength
        matcher._next_block()


def pattern_terms(q, reader):
    """The indexed terms (bytes) a prefix, wildcard, range or fuzzy query stands for in
    `reader`, in term order, read lazily (Whoosh's MultiTerm._btexts)."""
    return q._btexts(reader)


def deleted_docs(segreader):
    """The document numbers deleted in one segment, as a frozenset (SegmentReader's cached
    deleted_docs_set; not part of IndexReader's documented interface)."""
    return segreader.deleted_docs_set


def read_toc(ix):
    """The index's current table of contents (its generation and segments), read from disk."""
    return ix._read_toc()


def index_of(searcher):
    """The index a searcher was opened from."""
    return searcher._ix
