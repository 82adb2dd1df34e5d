"""The fast indexing path writes what Whoosh's own would: the same postings for every text, and
an index rebuilt by `kb.search.applying.rebuild` equal, term by term, to one written by a
stock Whoosh writer with stock field types. Real Whoosh indexes on disk."""

import zlib

import pytest
from sqlmodel import Session
from whoosh import fields, writing
from whoosh.filedb.filestore import FileStorage

from kb.search import analysis, applying, docsets, documents, schema
from kb.search import whoosh_internals as internals
from kb.search.index import for_app

TEXTS = [
    "",
    "a an the of",
    "Gateway timeouts after the configuration push",
    "Title words\x1dfactor words and more\x1dbody body body: the end's near. v1.2.3 x",
    "one\x1dtwo\x1dthree\x1dfour\x1dfive parts, the last ones unboosted",
    "Ünïcödé wörds — naïve café's résumé, 東京 and 🚀 rockets",
    "repeat " * 5000 + "word " * 3,  # positions past the precomputed ones
    "don't can't it's o'clock e.g. i.e. U.S.A.",
]


def _stock_text(name=schema.DEFAULT_FIELD):
    if name == schema.EXACT_FIELD:  # words as written, frequencies only
        return fields.TEXT(analyzer=analysis.EXACT_ANALYZER, phrase=False)
    return fields.TEXT(analyzer=analysis.ANALYZER)


@pytest.mark.parametrize("text", TEXTS)
def test_the_fast_text_field_makes_whooshs_postings(text):
    assert list(analysis.Text(analyzer=analysis.ANALYZER).index(text)) == list(
        _stock_text().index(text)
    )


@pytest.mark.parametrize("text", TEXTS)
def test_the_fast_exact_field_makes_whooshs_postings(text):
    assert list(analysis.ExactText().index(text)) == list(
        _stock_text(schema.EXACT_FIELD).index(text)
    )


def test_the_exact_field_keeps_words_as_written():
    words = {t.text for t in analysis.EXACT_ANALYZER("Deployments DEPLOYED the deploy's x")}
    assert words == {"deployments", "deployed", "deploy's"}


def _stock_schema():
    stock = schema.make_schema()
    for name in schema.TEXT_FIELDS:
        stock.remove(name)
        stock.add(name, _stock_text(name))
    return stock


def _contents(ix):
    """Everything a search can read: terms with their postings, lengths, stored fields."""
    with ix.searcher() as searcher:
        reader = searcher.reader()
        by_pid = {reader.stored_fields(n)["pid"]: n for n in reader.all_doc_ids()}
        order = {n: pid for pid, n in by_pid.items()}
        postings = {}
        for field_name, text in reader.all_terms():
            matcher = reader.postings(field_name, text)
            rows = []
            # The statistics of the first block, written with the postings (the lengths).
            block = (matcher.block_min_length(), matcher.block_max_length())
            block += (matcher.block_max_weight(),)
            while matcher.is_active():
                rows.append((order[matcher.id()], matcher.weight(), matcher.value()))
                matcher.next()
            postings[(field_name, text)] = (block, sorted(rows))
        lengths = {
            (pid, name): reader.doc_field_length(n, name)
            for pid, n in by_pid.items()
            for name in schema.TEXT_FIELDS
            if pid != schema.STATE_ID
        }
        stored = {pid: reader.stored_fields(n) for pid, n in by_pid.items()}
        totals = {
            name: (reader.field_length(name), reader.max_field_length(name))
            for name in schema.TEXT_FIELDS
        }
    return postings, lengths, stored, totals


def test_a_rebuilt_index_equals_one_written_by_stock_whoosh(app, make_postmortem, tmp_path):
    for n in range(1, 13):
        make_postmortem(
            ref=f"INC-2026-{n:03d}",
            title=f"Checkout timeouts number {n}",
            summary="The gateway's resolver failed again. " * n,
            tags=[f"tag-{n % 3}"],
        )
    stock_dir = tmp_path / "stock"
    stock_dir.mkdir()
    stock_ix = FileStorage(str(stock_dir)).create_index(_stock_schema(), indexname="MAIN")
    with app.app_context(), Session(app.extensions["kb_engine"]) as session:
        applying.rebuild(session, for_app(app))
        all_docs = list(documents.iter_all_documents(session))
    writer = stock_ix.writer()
    for fields_of_doc in all_docs:
        writer.add_document(**fields_of_doc)
    writer.commit(mergetype=writing.CLEAR)
    with app.app_context():
        ours = for_app(app).open()
        assert isinstance(ours.schema["content"], analysis.Text)
        ours_postings, ours_lengths, ours_stored, ours_totals = _contents(ours)
    stock_postings, stock_lengths, stock_stored, stock_totals = _contents(stock_ix)
    assert ours_postings.keys() - {("pid", schema.STATE_ID.encode())} == stock_postings.keys()
    for key, rows in stock_postings.items():
        assert ours_postings[key] == rows, key
    assert ours_lengths == stock_lengths
    ours_stored.pop(schema.STATE_ID)
    assert ours_stored == stock_stored
    assert ours_totals == stock_totals


def test_posting_blocks_are_pickled_with_protocol_5_and_read_by_whoosh(app, make_postmortem):
    """The writing codec pickles each block's data with protocol 5 (Whoosh: 2, which stores
    every position's bytes as a call): Whoosh's own matcher reads the block back."""
    for n in range(1, 4):
        make_postmortem(ref=f"INC-2026-{n:03d}", summary="Resolver resolver failed.")
    with app.app_context(), Session(app.extensions["kb_engine"]) as session:
        applying.rebuild(session, for_app(app))
    with app.app_context(), for_app(app).open().searcher() as searcher:
        (segreader,) = [reader for reader, _offset, _sub in docsets.leaves(searcher)]
        btext = internals.term_bytes(segreader, "content", "resolv")
        matcher = internals.term_matcher(segreader, "content", btext)
        # The block's data as written (Whoosh's W3LeafMatcher reads it from these offsets).
        size = matcher._nextoffset - matcher._dataoffset
        data = zlib.decompress(matcher._postfile.get(matcher._dataoffset, size))
        assert data[:2] == bytes([0x80, internals.BLOCK_PROTOCOL])
        whooshs = searcher.reader().postings("content", btext)
        assert len(list(whooshs.all_ids())) == 3
        assert whooshs.supports("positions")


def test_a_terms_blocks_read_at_once_equal_whooshs_matcher(tmp_path):
    """internals.term_blocks (the term's postings read in one piece, the blocks split in
    memory) gives what Whoosh's own matcher reads block by block: ids, weights and counts,
    over several blocks, with weights that vary, are all 1 or are the same in a block."""
    import numpy as np

    from kb.search.index import writer

    ix = FileStorage(str(tmp_path)).create_index(
        fields.Schema(pid=fields.ID(stored=True), body=fields.TEXT(analyzer=analysis.ANALYZER))
    )
    w = writer(ix)
    for n in range(700):
        w.add_document(pid=str(n), body="resolver " * (1 + n % 4) + ("cache " if n < 300 else ""))
    w.commit()
    with ix.searcher() as searcher:
        (segreader,) = [reader for reader, _offset, _sub in docsets.leaves(searcher)]
        for word in ("resolv", "cach"):
            btext = internals.term_bytes(segreader, "body", word)
            ours = internals.term_blocks(segreader, "body", btext)
            whooshs = list(
                internals.posting_blocks(internals.term_matcher(segreader, "body", btext))
            )
            assert len(ours) == len(whooshs) > 1
            for (ids, weights, count), (w_ids, w_weights, w_count) in zip(
                ours, whooshs, strict=True
            ):
                assert count == w_count and np.array_equal(ids, w_ids)
                assert weights == w_weights
        assert internals.term_blocks(segreader, "body", b"absent") is None
