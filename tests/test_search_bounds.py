"""Bounded cost of a search: patterns expand to a bounded number of words (and say when they
were cut), did-you-mean looks up a bounded number of words, and searches run at the same
time in several threads. Real Whoosh indexes on disk; the bounds are counted, not timed."""

import string
import threading

import pytest
from whoosh import query as wq

from kb.search import expand, spelling
from kb.search import query as search_query
from kb.search.index import for_app
from tests.conftest import system_search


def _words(prefix, count):
    """`count` distinct made-up words that start with `prefix` (no stem changes them)."""
    letters = string.ascii_lowercase
    return [prefix + letters[i // 26 % 26] + letters[i % 26] + "x" for i in range(count)]


@pytest.fixture
def wide(app, make_postmortem):
    """Postmortems holding 300 words that start with "zq" and 300 with "vk"."""
    make_postmortem(
        ref="INC-2026-101",
        title="A postmortem with a wide vocabulary",
        summary=" ".join(_words("zq", 300)),
        lessons=" ".join(_words("vk", 300)),
    )
    make_postmortem(ref="INC-2026-102", title="An ordinary postmortem about the connection pool")
    return system_search(app)


def _terms(q):
    if isinstance(q, wq.Term):
        return 1
    return sum(_terms(child) for child in q.children())


def test_a_wildcard_expands_to_a_bounded_number_of_words_and_says_it_was_cut(app, wide):
    with app.app_context(), for_app(app).searcher() as searcher:
        q, expansion = expand.expand(search_query.parse("zq*"), searcher.reader())
        assert expansion.cut and expansion.terms == expand.MAX_TERMS
        assert _terms(q) == expand.MAX_TERMS
        small, expansion = expand.expand(search_query.parse("zqaa*"), searcher.reader())
        assert not expansion.cut and _terms(small) == 1
    result = wide("zq*")
    assert result.cut and result.total == 1
    assert not wide("zqaa*").cut and wide("zqaa*").total == 1


def test_all_patterns_of_a_query_share_one_budget(app, wide):
    with app.app_context(), for_app(app).searcher() as searcher:
        reader = searcher.reader()
        for text in ("?*", "[a TO z]", "*a* *b* *c* *d*", "zq* OR vk*", "zq* vk* *x"):
            q, expansion = expand.expand(search_query.parse(text), reader)
            assert expansion.terms <= expand.MAX_TERMS and _terms(q) <= expand.MAX_TERMS, text
            assert expansion.scanned <= expand.MAX_SCANNED, text
    assert wide("[a TO z]").cut and wide("?*").cut


def test_each_pattern_has_an_equal_share_of_the_budget(app, wide):
    with app.app_context(), for_app(app).searcher() as searcher:
        q, expansion = expand.expand(search_query.parse("zq* vk*"), searcher.reader())
        assert expansion.cut and expansion.terms == expand.MAX_TERMS
        first, second = q.subqueries
        assert _terms(first) == _terms(second) == expand.MAX_TERMS // 2
    assert wide("zq* vk*").total == 1  # the first pattern did not leave the second nothing


def test_walking_the_term_list_stops_at_its_budget(app, wide, monkeypatch):
    monkeypatch.setattr(expand, "MAX_SCANNED", 50)
    with app.app_context(), for_app(app).searcher() as searcher:
        # "*q*" starts nowhere in particular: Whoosh would walk every word of the index.
        q, expansion = expand.expand(search_query.parse("*yy*"), searcher.reader())
        assert expansion.scanned == 50 and expansion.cut
    assert wide("*yy*").cut


def test_too_many_patterns_is_a_clear_error(wide):
    ok = " ".join(f"*{c}*" for c in "abcdefgh"[: expand.MAX_PATTERNS])
    assert wide(ok).error is None
    result = wide(ok + " *z*")
    assert result.error == (
        f"A query can hold at most {expand.MAX_PATTERNS} wildcards, prefixes or ranges."
    )
    assert result.hits == [] and result.total == 0


def test_the_cut_is_said_on_the_page_and_in_the_api(client, wide, login, make_user):
    login(make_user("reader@x.example"))
    page = client.get("/search?q=zq*").get_data(as_text=True)
    assert "Only the first" in page and "were searched" in page
    assert "were searched" not in client.get("/search?q=zqaa*").get_data(as_text=True)
    assert client.get("/api/v1/search?q=zq*").get_json()["cut"] is True
    assert client.get("/api/v1/search?q=zqaa*").get_json()["cut"] is False


def test_did_you_mean_looks_up_a_bounded_number_of_words(wide, monkeypatch):
    looked_up = []
    candidates = spelling._candidates

    def counting(reader, stemmed):
        looked_up.append(stemmed)
        return candidates(reader, stemmed)

    monkeypatch.setattr(spelling, "_candidates", counting)
    misspelt = " ".join(f"conection{c}" for c in "abcdefghijklmnopqrst")  # 20 unknown words
    wide(misspelt)
    assert len(looked_up) == spelling.MAX_SUGGESTED_WORDS
    looked_up.clear()
    assert wide("conection pool").suggestion == "connection pool"  # still corrects
    assert wide("x" * 60 + " pool").suggestion is None and looked_up == ["conect"]


def test_two_searches_run_at_the_same_time_in_two_threads(app, wide):
    index = for_app(app)
    inside = threading.Barrier(2, timeout=10)
    seen, errors = [], []

    def search_and_wait():
        try:
            with index.searcher() as searcher:
                seen.append(searcher)
                inside.wait()  # both threads must be inside a searcher at once to pass
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=search_and_wait) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(seen) == 2 and seen[0] is not seen[1]


def test_concurrent_searches_give_the_same_results_as_one_at_a_time(app, wide):
    queries = ["zq*", "connection pool", "vkab*", "wide vocabulary", "zqbcx OR vkbcx", "pool"]
    expected = {q: (wide(q).total, [h.ref for h in wide(q).hits]) for q in queries}
    index = for_app(app)
    got, errors = [], []

    def worker(offset):
        try:
            with app.app_context():
                for i in range(30):
                    q = queries[(i + offset) % len(queries)]
                    result = search_query.search(index, None, q)
                    got.append((q, (result.total, [h.ref for h in result.hits])))
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(got) == 120 and all(expected[q] == value for q, value in got)
