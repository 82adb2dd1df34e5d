"""What is kept per index segment between searches (kb.search.segments): term masks shared by
every search, never changed by one, and caches bounded by bytes. Real Whoosh indexes on disk,
SQLite and PostgreSQL."""

import numpy as np
import pytest

from kb.search import docsets, segments
from kb.search import query as search_query
from kb.search.index import for_app
from tests.conftest import system_search


@pytest.fixture
def find(app, make_postmortem):
    make_postmortem(ref="INC-2026-001")  # a configuration push that broke checkout
    make_postmortem(
        ref="INC-2026-002",
        title="Database failover timeout",
        summary="The database failover waited for a timeout after a push.",
    )
    return system_search(app)


def test_a_kept_term_mask_is_shared_and_read_only(app, find, monkeypatch):
    with app.app_context():
        index = for_app(app)
        with index.searcher() as searcher:
            segreader, _offset, _sub = next(iter(docsets.leaves(searcher)))
            data = index.caches.data(segreader)
            mask = data.term_mask(segreader, "content", "push")
            # Kept: no postings are read for it again (with the postings' cache emptied,
            # as when other words push them out).
            with monkeypatch.context() as m:
                m.setattr(data, "postings", lambda *_a: pytest.fail("postings read again"))
                assert mask is data.term_mask(segreader, "content", "push")
            assert mask.sum() == 2
            assert not mask.flags.writeable
            with pytest.raises(ValueError):
                mask[0] = not mask[0]
            # A word the segment lacks matches nothing.
            assert not data.term_mask(segreader, "content", "absentword").any()


def test_searches_combining_kept_masks_leave_them_as_they_were(app, find):
    """AND, OR and NOT of the same words, one search after the other in one app context
    (whose end would drop the caches): each finds what it finds with the caches dropped."""
    queries = ["push", "push AND database", "push OR database", "push NOT database", "push"]
    with app.app_context():
        index = for_app(app)

        def found():
            return [
                sorted(h.ref for h in search_query.search(index, None, q).hits) for q in queries
            ]

        kept = found()
        index.caches.clear()
        fresh = found()
    assert kept == fresh
    assert kept[0] == ["INC-2026-001", "INC-2026-002"] == kept[2] == kept[4]
    assert kept[1] == ["INC-2026-002"] and kept[3] == ["INC-2026-001"]


def test_pair_caches_drop_the_least_recently_used_past_their_bytes():
    # 100 ids and 100 values take 800 bytes; 100 values for every document, 400.
    cache = segments._PairCache(lambda: 1900)

    def pair(ids=True):
        return (np.arange(100, dtype=np.int32) if ids else None, np.ones(100, dtype=np.float32))

    cache.get("a", pair)
    cache.get("b", lambda: pair(ids=False))
    cache.get("a", lambda: pytest.fail("a is kept"))  # a is now the most recently used
    cache.get("c", pair)  # 800 + 400 + 800 bytes: over the budget, b goes
    assert len(cache) == 2
    cache.get("a", lambda: pytest.fail("a is kept"))
    again = pair(ids=False)
    assert cache.get("b", lambda: again) is again  # made again; c, least recently used, goes
    assert len(cache) == 2
    # Nothing is kept of a word without values: it would cost no bytes, so never leave.
    empty = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))
    cache.get("d", lambda: empty)
    assert len(cache) == 2


def test_terms_a_segment_lacks_are_remembered_a_bounded_number(app, find, monkeypatch):
    """A word no document of a segment holds is not looked up in its term file again, and
    typed words cannot grow that memory past segments.ABSENT_TERMS."""
    monkeypatch.setattr(segments, "ABSENT_TERMS", 10)
    with app.app_context():
        index = for_app(app)
        with index.searcher() as searcher:
            segreader, _offset, _sub = next(iter(docsets.leaves(searcher)))
            data = index.caches.data(segreader)
            assert not len(data.weighted(segreader, "content", "absentword")[0])
            monkeypatch.setattr(
                segments, "raw_postings", lambda *_a, **_k: pytest.fail("looked up again")
            )
            assert not len(data.weighted(segreader, "content", "absentword")[0])
            monkeypatch.undo()
            monkeypatch.setattr(segments, "ABSENT_TERMS", 10)
            for n in range(25):
                data.weighted(segreader, "content", f"absent{n}")
                data.postings(segreader, "services", f"absent-{n}")
                assert len(data._absent) <= 10
            # What the segment holds is found as before.
            assert len(data.weighted(segreader, "content", "push")[0]) == 2
