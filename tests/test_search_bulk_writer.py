"""A rebuild's writer (kb.search.index.bulk_writer) writes the segment Whoosh's own writer
writes: the same files byte for byte for the same documents in the same order, so the same
terms, postings, positions, block statistics, lengths, columns and stored fields, and the
same search results. An index it wrote then takes changes from Whoosh's normal writer (as the
follower applies them) exactly as one Whoosh wrote does. Real Whoosh indexes on disk."""

import tempfile

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlmodel import Session
from whoosh import query as wq
from whoosh import writing

from kb.search import analysis, applying, bulk, schema, whoosh_internals
from kb.search import query as search_query
from kb.search.index import SearchIndex, bulk_writer, for_app, state_fields, writer
from tests import search_documents
from tests.search_documents import TEAMS

PROPERTY = settings(
    max_examples=25,
    deadline=None,
    database=None,
    # A failing example of these sizes takes minutes to shrink; the unshrunk one is shown.
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Few words, so that terms are shared and some words repeat within a document; a few that
# need care: unicode, apostrophes, dotted words, stop words, one-letter words.
WORDS = (
    "disk",
    "queue",
    "cache",
    "timeout",
    "deploy",
    "alert",
    "pool",
    "café",
    "don't",
    "v1.2",
    "the",
    "a",
    "x",
    "東京",
)
documents = search_documents.documents(
    WORDS,
    lengths=(30, 8, 5),
    people=("ann@example.org", "bob@example.org"),
    starts=(None, *search_documents.STARTS),
)
changes = st.lists(
    st.fixed_dictionaries(
        {
            "new": st.lists(documents, max_size=4),
            "updated": st.lists(st.tuples(st.integers(0, 99), documents), max_size=2),
            "deleted": st.lists(st.integers(0, 99), max_size=2),
        }
    ),
    max_size=3,
)


def _fields(pid, doc):
    return schema.fields_for(pid, {**doc, "ref": f"INC-2026-{pid:04d}"})


def _write(path, docs, *, bulk, limitmb=256):
    """An index of these documents (and a state document), written in one commit as a
    rebuild writes it, by the bulk writer or by Whoosh's own (its pool of `limitmb`)."""
    idx = SearchIndex(path)
    ix = idx.create_empty()
    w = bulk_writer(ix) if bulk else writer(ix, limitmb=limitmb)
    for pid, doc in enumerate(docs, start=1):
        w.add_document(**_fields(pid, doc))
    w.add_document(**state_fields({"schema": schema.SCHEMA_VERSION, "upto": 0}))
    w.commit(mergetype=writing.CLEAR)
    return idx


def _segment_files(ix):
    """{file name inside the segment, segment id replaced: bytes} of a one-segment index."""
    (segment,) = whoosh_internals.read_toc(ix).segments
    storage = segment.open_compound_file(ix.storage)
    segid = segment.segment_id()
    try:
        return {
            name.replace(segid, "SEGMENT"): storage.open_file(name).read()
            for name in storage.list()
        }
    finally:
        storage.close()


def _apply(idx, round_, live, next_pid):
    """One round as kb.search.applying applies changes: the old versions and the old state
    document deleted, the new versions and a new state document added, one commit through
    Whoosh's normal writer (which may merge the rebuilt segment)."""
    ix = idx.open()
    w = writer(ix)
    w.delete_by_term("pid", schema.STATE_ID)
    for k in round_["deleted"]:
        if live:
            pid = sorted(live)[k % len(live)]
            w.delete_by_term("pid", str(pid))
            del live[pid]
    for k, doc in round_["updated"]:
        if live:
            pid = sorted(live)[k % len(live)]
            w.delete_by_term("pid", str(pid))
            live[pid] = doc
            w.add_document(**_fields(pid, doc))
    for doc in round_["new"]:
        live[next_pid] = doc
        w.add_document(**_fields(next_pid, doc))
        next_pid += 1
    w.add_document(**state_fields({"schema": schema.SCHEMA_VERSION, "upto": next_pid}))
    w.commit()
    return next_pid


def _contents(idx):
    """Everything a search reads, segment by segment and by pid rather than document number:
    each term's postings (weight, positions) and first block's statistics, lengths, stored
    fields, field totals."""
    out = []
    with idx.searcher() as searcher:
        for leaf, _offset in searcher.reader().leaf_readers():
            pid_of = {n: leaf.stored_fields(n)["pid"] for n in range(leaf.doc_count_all())}
            postings = {}
            for field_name, text in leaf.all_terms():
                # The raw matcher: deleted documents' postings too, and the block statistics.
                matcher = whoosh_internals.term_matcher(leaf, field_name, text)
                block = (matcher.block_min_length(), matcher.block_max_length())
                rows = []
                while matcher.is_active():
                    rows.append((pid_of[matcher.id()], matcher.weight(), matcher.value()))
                    matcher.next()
                postings[(field_name, text)] = (block, rows)
            lengths = {
                (pid, name): leaf.doc_field_length(n, name)
                for n, pid in pid_of.items()
                for name in schema.TEXT_FIELDS
            }
            stored = [leaf.stored_fields(n) for n in pid_of]
            deleted = sorted(pid for n, pid in pid_of.items() if leaf.is_deleted(n))
            totals = {name: leaf.field_length(name) for name in schema.TEXT_FIELDS}
            out.append((postings, lengths, stored, deleted, totals))
    return out


def _results(idx):
    """BM25F results (pid, score) of a few searches, as Whoosh ranks them."""
    out = []
    with idx.searcher() as searcher:
        for word in ("disk", "cache", "café", "東京"):
            for field_name in schema.TEXT_FIELDS:
                q = wq.Term(field_name, analysis.stem(word))
                out.append([(h["pid"], round(h.score, 9)) for h in searcher.search(q, limit=None)])
        q = wq.And([wq.Term("content", "disk"), wq.Term("teams", "sre")])
        out.append([(h["pid"], round(h.score, 9)) for h in searcher.search(q, limit=None)])
    return out


@PROPERTY
@given(docs=st.lists(documents, max_size=40), plan=changes)
def test_the_bulk_writer_writes_whooshs_segment_and_takes_changes_alike(docs, plan):
    with tempfile.TemporaryDirectory(prefix="kb-bulk-") as folder:
        ours = _write(f"{folder}/bulk", docs, bulk=True)
        stock = _write(f"{folder}/stock", docs, bulk=False)
        assert _segment_files(ours.open()) == _segment_files(stock.open())
        # Whoosh's pool spills runs to disk past its memory: its bytes then differ (pickle no
        # longer shares the equal position records of a block), its contents must not.
        spilled = _write(f"{folder}/spilled", docs, bulk=False, limitmb=1)
        assert _contents(ours) == _contents(spilled)
        assert _contents(ours) == _contents(stock)
        assert _results(ours) == _results(stock)
        live_ours = dict(enumerate(docs, start=1))
        live_stock = dict(live_ours)
        next_ours = next_stock = len(docs) + 1
        for round_ in plan:
            next_ours = _apply(ours, round_, live_ours, next_ours)
            next_stock = _apply(stock, round_, live_stock, next_stock)
        assert _contents(ours) == _contents(stock)
        assert _results(ours) == _results(stock)
        ours.close()
        stock.close()


def test_long_posting_lists_span_blocks_alike(tmp_path):
    # 300 documents sharing words: posting lists of several blocks of 128, and a last block
    # that is full (256 documents hold "disk").
    docs = [
        {
            "title": "disk" if n < 256 else "cache",
            "summary": " ".join(WORDS[: 1 + n % len(WORDS)] * (1 + n % 3)),
            "teams": [TEAMS[n % 3]],
            "visibility": "internal",
        }
        for n in range(300)
    ]
    ours = _write(tmp_path / "bulk", docs, bulk=True)
    stock = _write(tmp_path / "stock", docs, bulk=False)
    assert _segment_files(ours.open()) == _segment_files(stock.open())
    spilled = _write(tmp_path / "spilled", docs, bulk=False, limitmb=1)
    assert _contents(ours) == _contents(spilled) and _results(ours) == _results(spilled)
    with ours.searcher() as searcher:
        assert searcher.doc_frequency("title", b"disk") == 256
    assert _results(ours) == _results(stock)
    ours.close()
    stock.close()


# --- a rebuild in several processes -----------------------------------------------------------


def _by_pid(app):
    """The live documents' postings, lengths and stored fields by pid, the pids in document
    order, and what a few searches answer (refs, totals, facet counts)."""
    idx = for_app(app)
    with app.app_context(), idx.searcher() as searcher:
        reader = searcher.reader()
        pid_of = {n: fields["pid"] for n, fields in reader.iter_docs()}
        postings = {}
        for field_name, text in reader.all_terms():
            matcher = reader.postings(field_name, text)
            rows = []
            while matcher.is_active():
                rows.append((pid_of[matcher.id()], matcher.weight(), matcher.value()))
                matcher.next()
            postings[(field_name, text)] = sorted(rows)
        # The state document alone in a segment has no length column (0, not None).
        lengths = {
            (pid, name): reader.doc_field_length(n, name) or 0
            for n, pid in pid_of.items()
            for name in schema.TEXT_FIELDS
        }
        stored = {pid: fields for _n, fields in reader.iter_docs() for pid in [fields["pid"]]}
        stored.pop(schema.STATE_ID)
        order = [pid_of[n] for n in sorted(pid_of)]
    answers = []
    with app.app_context():
        for text in ("disk", "cache timeout", "title:queue", "team:sre", '"disk queue"'):
            result = search_query.search(idx, None, text)
            answers.append(([h.ref for h in result.hits], result.total, result.facets))
    return postings, lengths, stored, order, answers


def _rebuild(app, procs):
    with app.app_context(), Session(app.extensions["kb_engine"]) as session:
        return applying.rebuild(session, for_app(app), procs=procs)


def test_a_rebuild_in_several_processes_equals_one_in_one(app, make_postmortem):
    for n in range(1, 24):
        make_postmortem(
            ref=f"INC-2026-{n:03d}",
            title=" ".join(WORDS[n % 5 : n % 5 + 3]),
            summary=" ".join(WORDS[: 1 + n % len(WORDS)] * (1 + n % 3)),
            teams=[TEAMS[n % 3]],
            tags=[f"tag-{n % 4}"],
        )
    assert _rebuild(app, 1) == 23
    one = _by_pid(app)
    assert _rebuild(app, 3) == 23
    with app.app_context():
        assert len(whoosh_internals.read_toc(for_app(app).open()).segments) == 4
    assert _by_pid(app) == one  # documents numbered alike: ties rank alike
    # The follower then applies a change with Whoosh's normal writer.
    make_postmortem(ref="INC-2026-004", title="disk disk cache", teams=["sre"])
    make_postmortem(ref="INC-2026-099", title="queue timeout", teams=["data"])
    with app.app_context(), Session(app.extensions["kb_engine"]) as session:
        assert applying.apply_pending(session, for_app(app)).applied == 2
    followed = _by_pid(app)
    _rebuild(app, 1)
    rebuilt = _by_pid(app)
    # The same index but for document order (a changed postmortem is numbered last).
    assert followed[:3] == rebuilt[:3]
    assert sorted(followed[3]) == sorted(rebuilt[3])
    for (refs, total, facets), (refs_rebuilt, total_rebuilt, facets_rebuilt) in zip(
        followed[4], rebuilt[4], strict=True
    ):
        assert (sorted(refs), total, facets) == (
            sorted(refs_rebuilt),
            total_rebuilt,
            facets_rebuilt,
        )


def test_a_failing_indexing_process_fails_the_rebuild_and_keeps_the_old_index(tmp_path):
    idx = _write(tmp_path / "index", [{"title": "disk"}], bulk=True)
    before = _contents(idx)
    good = [_fields(pid, {"title": "cache"}) for pid in range(1, 200)]
    bad = [_fields(200, {"title": "queue"}), {"no such field": "x"}]
    with pytest.raises(bulk.HelperFailed, match="no such field"):
        bulk.write_in_parallel(idx.open(), [good, bad])
    idx.close()
    assert _contents(idx) == before
    # The lock was freed: the next rebuild goes through.
    assert bulk.write_in_parallel(idx.open(), [good, bad[:1]]) == 200
    idx.close()
    with idx.searcher() as searcher:
        assert searcher.doc_count() == 200
    idx.close()
