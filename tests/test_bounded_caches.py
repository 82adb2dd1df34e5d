"""No cache of a process grows with what people type: each is bounded or holds stored data only.

Typed text reaches three caches: the word stems of kb.insights.features (the editor's
suggestions send up to 20,000 characters a call), the rendered Markdown of kb.markdown (the
editor's preview) and the postings of kb.search.docsets (words, field queries and filters);
the terms a segment lacks are remembered up to a bound (tests/test_search_segments.py).
"""

import itertools

from kb import accounts
from kb.insights import features
from kb.markdown import render_checked
from kb.search.index import for_app
from kb.search.service import service_for


def _made_up_words(count, start=0):
    """`count` distinct words no dictionary holds ("qxa", "qxb", ...), as typed text."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ("qx" + "".join(t) for n in range(3, 6) for t in itertools.product(letters, repeat=n))
    return list(itertools.islice(words, start, start + count))


def test_typed_text_does_not_grow_the_stem_cache_without_end(
    client, make_user, make_postmortem, session, runner
):
    make_postmortem(ref="INC-2026-001")
    assert runner.invoke(args=["themes", "rebuild"]).exit_code == 0
    user = make_user("r@x.example")
    _row, token = accounts.create_token(session, user.email, "t")
    session.commit()
    # 35 calls of 19,000 characters: 66,500 words never seen before.
    for call in range(35):
        text = " ".join(_made_up_words(1900, start=call * 1900))
        response = client.post(
            "/api/v1/similar",
            json={"title": "typed", "summary": text},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
    assert len(features._STEMS) <= 50_000
    assert features.stem.cache_info().maxsize is not None  # the stemmer's own cache too


def test_the_preview_does_not_fill_the_markdown_cache(client, make_user, login, csrf_token):
    login(make_user("a@x.example", role="author"))
    token = csrf_token()
    before = render_checked.cache_info().currsize
    for n in range(50):
        response = client.post(
            "/postmortems/preview", data={"text": f"**draft** number {n}", "csrf_token": token}
        )
        assert response.json["html"] == f"<p><strong>draft</strong> number {n}</p>"
    assert render_checked.cache_info().currsize <= before


def test_queries_do_not_grow_the_postings_caches(app, make_postmortem):
    make_postmortem(ref="INC-2026-001", services=["checkout-api"])
    with app.app_context():
        service_for(app).syncer.run_once()
        index = for_app(app)
        from kb.search import query

        def cached():
            datas = index.caches._data.values()
            return sum(len(data._keywords) + len(data._weighted) for data in datas)

        query.search(index, None, "service:checkout-api checkout")
        before = cached()
        for n in range(50):
            query.search(index, None, f"service:nosuch-{n}", filters={"team": [f"none-{n}"]})
            query.search(index, None, f"checkout OR nosuchword{n}")
        assert cached() == before
