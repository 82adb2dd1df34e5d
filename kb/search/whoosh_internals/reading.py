"""Reading what Whoosh offers no public way to read: a term's raw postings, block by block,
the deleted documents of a segment, the table of contents, the terms a pattern stands for."""

import io
import pickle
import struct
import zlib

import numpy as np
from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC


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


def term_blocks(segreader, field, btext):
    """[(document numbers, weights, count)] of every block of a term in one segment (deleted
    documents included), as posting_blocks() gives them; None when the segment does not hold
    the term; posting_blocks(term_matcher(...)) when its postings are inlined.

    The term's postings are read from the postings file in one piece (TermInfo.extent()),
    and each block split in memory: W3LeafMatcher reads a block's length and header from the
    file a few bytes at a time (about twenty reads a block), which cost as much as decoding
    the block. The layout is W3PostingsWriter's: a 4-byte magic, then per block a signed
    big-endian int (the length of the rest of the block, negative for the last), the header
    (a pickled tuple: count, last id, max weight, compression, min and max length bytes) and
    the data (a pickled (ids, weights, values) tuple, zlib-compressed when compression > 0).
    """
    terms = segreader._terms
    if (field, btext) not in terms:
        return None
    info = terms.term_info(field, btext)
    if info.is_inlined():
        return list(posting_blocks(terms.matcher(field, btext, segreader.schema[field].format)))
    offset, length = info.extent()
    if isinstance(length, tuple):  # W3TermInfo.from_bytes leaves the length in its 1-tuple
        (length,) = length
    raw = terms._postfile.get(offset, length)
    if raw[:4] != WHOOSH3_HEADER_MAGIC:
        raise ValueError(f"no postings at {offset} for {field}:{btext!r}")
    view, at, out = memoryview(raw), 4, []
    while at < length:
        (size,) = _BLOCK_LENGTH.unpack_from(raw, at)
        at += 4
        end = at + abs(size)
        header = io.BytesIO(view[at:end])
        # The index's own files, written by its codec (Whoosh's reader unpickles them too).
        count, _last, _top, compression, _mn, _mx = pickle.load(header)  # noqa: S301
        data = view[at + header.tell() : end]
        block = zlib.decompress(data) if compression else data
        ids, weights, _values = pickle.loads(block)  # noqa: S301
        out.append((np.cumsum(np.asarray(ids, dtype=np.int64)).astype(np.int32), weights, count))
        at = end
        if size < 0:
            break
    return out


_BLOCK_LENGTH = struct.Struct("!i")


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
