"""Every private part of Whoosh-Reloaded the search package uses: what the engine reads, one
small function each, and the writer classes built on Whoosh's codec and segment writer.

Checked against whoosh-reloaded 2.7.5 (CHECKED_VERSION; pyproject.toml pins >=2.7.5,<2.8).
Reading (reading.py): the engine (kb.search.docsets) reads postings block by block straight
from the segment's term file, and the index (kb.search.index) opens segment readers from the
table of contents itself; Whoosh offers no public way to do either. Writing (writing.py): a
rebuild writes its segments with BulkWriter, which sets the block buffers of Whoosh's
postings writer itself, and every writer uses WritingCodec. A new Whoosh version may rename
or reshape any of these: before raising the pin, run tests/test_search_engine_contract.py,
which builds random indexes and compares the engine's matches, scores and facet counts with
Whoosh's own, and tests/test_search_bulk_writer.py, which compares BulkWriter's segments with
SegmentWriter's byte for byte, and check each function and class of both modules against the
new source.
"""

from kb.search.whoosh_internals.reading import (
    deleted_docs,
    index_of,
    pattern_terms,
    posting_blocks,
    read_toc,
    term_blocks,
    term_bytes,
    term_matcher,
)
from kb.search.whoosh_internals.writing import BLOCK_PROTOCOL, BulkWriter, WritingCodec

CHECKED_VERSION = (2, 7, 5)

__all__ = [
    "BLOCK_PROTOCOL",
    "CHECKED_VERSION",
    "BulkWriter",
    "WritingCodec",
    "deleted_docs",
    "index_of",
    "pattern_terms",
    "posting_blocks",
    "read_toc",
    "term_blocks",
    "term_bytes",
    "term_matcher",
]
