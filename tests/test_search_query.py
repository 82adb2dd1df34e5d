"""Search queries: every feature, through the domain function, the page and the API.

Real Whoosh indexes on disk (the app's instance folder), on SQLite and PostgreSQL.
"""

import json

import pytest

from kb.search import query as search_query
from kb.search.index import for_app
from kb.search.service import service_for
from tests.conftest import system_search

TIMES = {
    "detected_at": None,
    "mitigated_at": None,
    "resolved_at": None,
    "published_at": "2026-12-01T00:00:00Z",
}


@pytest.fixture
def corpus(make_postmortem):
    """A few postmortems that differ in the ways the queries below need."""

    def make(**fields):
        return make_postmortem(**{**TIMES, **fields})

    make(
        ref="INC-2025-001",
        title="Checkout errors after the connection pool was exhausted",
        severity="SEV1",
        services=["checkout-api", "payments-gateway"],
        teams=["payments"],
        tags=["database"],
        started_at="2025-05-02T09:00:00Z",
        summary="Requests queued while the connection pool stayed exhausted for 20 minutes.",
        lessons="Size pools from measured concurrency, not from defaults.",
        contributing_factors=[{"text": "Retry storms amplified the load on the database."}],
    )
    make(
        ref="INC-2026-002",
        title="Expired certificate on the mail relay",
        severity="SEV3",
        kind="near-miss",
        services=["notifications"],
        teams=["platform"],
        tags=["certificates", "tls"],
        trigger="infrastructure",
        started_at="2026-01-10T00:00:00Z",
        summary="The relay certificate expired at midnight and mail queued for three hours.",
        detection="A queue depth alert fired after two hours.",
        contributing_factors=[{"text": "Nothing watched the certificate's expiry date."}],
    )
    make(
        ref="INC-2026-003",
        title="Slow searches during a resolver outage",
        severity="SEV2",
        services=["catalog-search", "edge-proxy"],
        teams=["platform"],
        tags=["dns"],
        trigger="dependency",
        started_at="2026-02-14T12:00:00Z",
        summary="A DNS resolver failed and lookups waited for their timeout.",
        response="We pointed the pool of hosts at the secondary resolver.",
        contributing_factors=[{"text": "The resolver timeout was ten seconds."}],
    )
    for n in range(4, 16):
        make(
            ref=f"INC-2026-{n:03d}",
            title=f"Routine deploy rollback number {n}",
            severity="SEV4",
            services=["checkout-api"],
            teams=["storefront"],
            tags=["deploy"],
            trigger="deploy",
            started_at=f"2026-03-{n:02d}T08:00:00Z",
            summary="A deploy was rolled back after its canary failed.",
        )


@pytest.fixture
def find(app, corpus):
    """Search as the system (sees everything), after applying the change log."""
    return system_search(app)


def refs(result):
    return [h.ref for h in result.hits]


def test_words_are_stemmed_and_all_required(find):
    assert refs(find("exhausted pools")) == ["INC-2025-001"]
    assert refs(find("certificates expiring")) == ["INC-2026-002"]


def test_title_and_factors_rank_above_other_sections(find):
    # "resolver" is in INC-2026-003's title and factor; "pool" only in its response section.
    result = find("pool")
    assert refs(result)[0] == "INC-2025-001"  # in its title
    assert "INC-2026-003" in refs(result)


def test_quoted_phrase(find):
    assert refs(find('"connection pool"')) == ["INC-2025-001"]
    assert refs(find('"pool connection"')) == []


def test_and_or_not_and_grouping(find):
    assert set(refs(find("certificate OR resolver"))) == {"INC-2026-002", "INC-2026-003"}
    assert refs(find("pool NOT exhausted")) == ["INC-2026-003"]
    assert refs(find("(certificate OR resolver) AND dns")) == ["INC-2026-003"]


def test_prefix(find):
    assert set(refs(find("certif*"))) == {"INC-2026-002"}
    assert set(refs(find("resolv*"))) == {"INC-2026-003"}


def test_field_queries(find):
    assert refs(find("service:payments-gateway severity:SEV1")) == ["INC-2025-001"]
    assert refs(find("team:platform tag:dns")) == ["INC-2026-003"]
    assert refs(find("kind:near-miss")) == ["INC-2026-002"]
    assert refs(find("trigger:dependency")) == ["INC-2026-003"]
    assert refs(find("year:2025")) == ["INC-2025-001"]
    assert refs(find("status:published certificate")) == ["INC-2026-002"]
    assert refs(find("title:certificate")) == ["INC-2026-002"]
    assert refs(find("INC-2026-003")) == ["INC-2026-003"]
    assert refs(find("Service:Payments-Gateway")) == ["INC-2025-001"]  # case does not matter


def test_sort_by_date(find):
    newest = find("", sort="newest")
    assert refs(newest)[:2] == ["INC-2026-015", "INC-2026-014"]
    by_relevance = find("checkout")
    assert refs(by_relevance)[0] == "INC-2025-001"  # in its title
    assert refs(find("checkout", sort="newest"))[0] == "INC-2026-015"


def test_facet_counts_and_narrowing(find):
    result = find("checkout")
    facets = {f.param: {v.value: v.count for v in f.values} for f in result.facets}
    assert result.total == 13
    assert facets["severity"] == {"SEV1": 1, "SEV4": 12}
    assert facets["service"]["checkout-api"] == 13
    assert facets["service"]["payments-gateway"] == 1
    assert facets["year"] == {"2025": 1, "2026": 12}
    narrowed = find("checkout", filters={"severity": ["SEV1"]})
    assert narrowed.total == 1 and refs(narrowed) == ["INC-2025-001"]
    facets = {f.param: {v.value: (v.count, v.selected) for v in f.values} for f in narrowed.facets}
    assert facets["severity"] == {"SEV1": (1, True)}
    assert facets["team"] == {"payments": (1, False)}
    both = find("", filters={"service": ["checkout-api"], "year": ["2025"]})
    assert refs(both) == ["INC-2025-001"]


def test_highlighted_passage_names_its_section(find):
    hit = find("queue depth alert").hits[0]
    assert hit.ref == "INC-2026-002"
    assert hit.passage.section == "detection" and hit.passage.heading == "Detection"
    assert "<mark>queue</mark> <mark>depth</mark> <mark>alert</mark>" in hit.passage.html
    hit = find("amplified").hits[0]
    assert hit.passage.heading == "Contributing factors"
    assert "<mark>amplified</mark>" in hit.passage.html
    assert (
        find("expired").hits[0].title_html == "<mark>Expired</mark> certificate on the mail relay"
    )


def test_passages_are_escaped(make_postmortem, app):
    make_postmortem(ref="INC-2026-090", summary="The <script>alert(1)</script> tag & friends.")
    with app.app_context():
        service_for(app).syncer.run_once()
        hit = search_query.search(for_app(app), None, "friends").hits[0]
    assert "<script>" not in hit.passage.html and "&amp; <mark>friends</mark>" in hit.passage.html


def test_did_you_mean(find):
    result = find("certifcate relay")
    assert result.suggestion == "certificate relay"
    assert find("certificate").suggestion is None


def test_relaxed_when_no_document_has_every_word(find):
    result = find("certificate resolver")
    assert result.relaxed and set(refs(result)) == {"INC-2026-002", "INC-2026-003"}


def test_paging(find):
    first = find("deploy", per_page=5)
    second = find("deploy", per_page=5, page=2)
    third = find("deploy", per_page=5, page=3)
    assert first.total == 12 and first.pages == 3
    assert len(first.hits) == 5 and len(second.hits) == 5 and len(third.hits) == 2
    assert not set(refs(first)) & set(refs(second))
    assert find("deploy", per_page=5, page=9).hits == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"unclosed phrase', "quotation mark"),
        ("(certificate OR dns", "parentheses"),
        ("colour:blue", 'no field "colour"'),
        ("x" * 600, "at most"),
    ],
)
def test_malformed_queries_get_a_friendly_message(find, text, message):
    result = find(text)
    assert message in result.error and result.hits == []


def test_odd_queries_never_fail(find):
    for text in ("AND", "OR OR", "NOT", "*", "title:", "year:[2020 TO", "a:b:c", "()", "\\", "'"):
        result = find(text)
        assert result.error or result.total >= 0


# --- the page and the API -----------------------------------------------------------------


@pytest.fixture
def reader(make_user, login, corpus):
    user = make_user("reader@x.example", teams=["platform"])
    login(user)
    return user


def test_search_page(client, reader):
    body = client.get("/search?q=certificate").get_data(as_text=True)
    assert "INC-2026-002" in body and "<mark>certificate</mark>" in body
    assert 'class="passage-section">Summary' in body or "passage-section" in body
    assert "1 result" in body
    assert 'href="/search?q=certificate&amp;severity=SEV3"' in body  # a facet link narrows


def test_search_page_facet_link_and_sort(client, reader):
    body = client.get("/search?q=checkout&severity=SEV1").get_data(as_text=True)
    assert "1 result" in body and "INC-2025-001" in body
    assert "severity: SEV1" in body  # the active filter can be removed
    body = client.get("/search?q=deploy&sort=newest&page=2").get_data(as_text=True)
    assert "Page 2 of 2" in body


def test_search_page_malformed_query_is_not_an_error_page(client, reader):
    response = client.get('/search?q="oops')
    assert response.status_code == 200
    assert "quotation mark" in response.get_data(as_text=True)


def test_header_search_box_on_every_page(client, reader):
    assert 'action="/search"' in client.get("/").get_data(as_text=True)


def test_api_search(client, reader, app):
    from kb import accounts
    from kb.db import get_session

    with app.app_context():
        _row, token = accounts.create_token(get_session(), reader.email, "t")
        get_session().commit()
    headers = {"Authorization": f"Bearer {token}"}
    response = client.get("/api/v1/search?q=exhausted&severity=SEV1&page=1", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 1 and body["hits"][0]["ref"] == "INC-2025-001"
    assert body["hits"][0]["score"] > 0
    assert body["hits"][0]["highlights"][0]["html"].count("<mark>") >= 1
    assert {v["value"] for v in body["facets"]["severity"]} == {"SEV1"}
    bad = client.get('/api/v1/search?q="oops', headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"]["errors"][0]["field"] == "q"
    assert client.get("/api/v1/search?per_page=500", headers=headers).status_code == 400
    assert client.get("/api/v1/search?sort=random", headers=headers).status_code == 400


def test_api_is_described(client, reader):
    spec = json.loads(client.get("/api/v1/openapi.json").get_data(as_text=True))
    assert "/api/v1/search" in spec["paths"]


def test_colons_inside_phrases_and_links_are_not_fields(find):
    assert find('"error: timeout"').error is None
    assert find("https://status.example.com").error is None


def test_field_only_queries_list_newest_first(find):
    result = find("service:checkout-api")
    assert result.total == 13 and refs(result)[0] == "INC-2026-015"


def test_scores_do_not_depend_on_restricted_postmortems(app, corpus, make_postmortem, make_user):
    # Ranking statistics (how many postmortems hold a word, how long they are) are taken over
    # internal postmortems only: a restricted one that holds the query's words changes no
    # score anyone sees, so a score cannot tell that it exists.
    reader = make_user("reader@x.example", teams=["platform"])
    insider = make_user("insider@x.example", teams=["security"])

    def scores(user, text):
        with app.app_context():
            service_for(app).syncer.run_once()
            found = search_query.search(for_app(app), user, text, per_page=50)
        return {h.ref: h.score for h in found.hits}

    queries = ("certificate", "resolver OR pool OR certificate", "deploy rollback", "title:expired")
    before = {(who.email, q): scores(who, q) for who in (reader, insider) for q in queries}
    make_postmortem(
        ref="INC-2026-090",
        title="Certificate expired on the vault resolver",
        visibility="restricted",
        teams=["security"],
        summary="The certificate expired. " * 40 + "The resolver pool and the deploy rollback.",
        started_at="2026-04-01T00:00:00Z",
        published_at="2026-12-01T00:00:00Z",
        detected_at=None,
        mitigated_at=None,
        resolved_at=None,
    )
    for (email, q), was in before.items():
        insider_asks = email == insider.email
        now = scores(insider if insider_asks else reader, q)
        assert ("INC-2026-090" in now) == insider_asks, q  # found only by those who may
        now.pop("INC-2026-090", None)
        assert was and now == was, q  # every other score exactly as before
