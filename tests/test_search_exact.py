"""One word between quotes is searched exactly as written: no other forms, no synonyms; the
page and the API say so. Real Whoosh indexes on disk, SQLite and PostgreSQL."""

import pytest

from kb.search import highlight, parsing
from tests.conftest import system_search
from tests.test_search_synonyms import NEUTRAL

CORPUS = [
    ("INC-2026-201", "The cert expired on the mail relay"),
    ("INC-2026-202", "Two certs expired on the edge"),
    ("INC-2026-203", "The TLS certificate was rotated late"),
    ("INC-2026-204", "A deployment stalled halfway"),
    ("INC-2026-205", "We deploy on Fridays and this one went wrong"),
]


@pytest.fixture
def find(app, make_postmortem):
    for ref, title in CORPUS:
        make_postmortem(ref=ref, title=title, **NEUTRAL)
    return system_search(app)


def refs(result):
    return sorted(h.ref for h in result.hits)


def test_a_quoted_word_finds_that_word_only(find):
    # Unquoted, "cert" finds its other forms and its synonyms (tls, certificate).
    assert refs(find("cert")) == ["INC-2026-201", "INC-2026-202", "INC-2026-203"]
    exact = find('"cert"')
    assert refs(exact) == ["INC-2026-201"]
    assert exact.also == [] and exact.exact == ["cert"]


def test_a_quoted_word_is_not_stemmed(find):
    assert refs(find("deploy")) == ["INC-2026-204", "INC-2026-205"]
    assert refs(find('"deploy"')) == ["INC-2026-205"]
    assert refs(find('"deployment"')) == ["INC-2026-204"]
    assert refs(find('"Deployment"')) == ["INC-2026-204"]  # as written, in any case


def test_a_quoted_word_combines_with_other_words_and_operators(find):
    assert refs(find('"cert" relay')) == ["INC-2026-201"]
    assert refs(find('"certs" expired')) == ["INC-2026-202"]
    assert refs(find('"certs" OR "certificate"')) == ["INC-2026-202", "INC-2026-203"]
    assert refs(find('expired NOT "cert"')) == ["INC-2026-202"]


def test_several_quoted_words_stay_a_phrase_and_fields_keep_their_meaning(find):
    assert parsing.exact_words('"mail relay" title:"cert"') == []
    assert refs(find('"mail relay"')) == ["INC-2026-201"]
    assert str(parsing.parse('title:"cert"')) == "title:cert"
    # A title word, with its other forms and synonyms, as before.
    assert refs(find('title:"certs"')) == ["INC-2026-201", "INC-2026-202", "INC-2026-203"]


def test_the_quoted_word_is_highlighted(find):
    (hit,) = find('"cert"').hits
    assert hit.title_html == "The <mark>cert</mark> expired on the mail relay"
    (hit,) = find('"certs" expired').hits
    assert hit.title_html == "Two <mark>certs</mark> <mark>expired</mark> on the edge"
    # The word as written is marked, not its other forms.
    marked = highlight._highlight_whole("cert and certs", frozenset({highlight.EXACT + "cert"}))
    assert marked == "<mark>cert</mark> and certs"


def test_exact_is_not_a_field_people_type(find):
    assert "There is no field" in find("exact:cert").error


def test_the_page_and_the_api_say_the_word_was_searched_as_written(client, make_user, login, find):
    login(make_user("reader@x.example", teams=["platform"]))
    body = client.get("/search", query_string={"q": '"cert"'}).get_data(as_text=True)
    assert "Searched exactly as typed, without other forms or synonyms: cert" in body
    assert "Also searched for" not in body
    assert "one word between quotes is searched exactly as written" in body
    data = client.get("/api/v1/search", query_string={"q": '"cert"'}).get_json()
    assert data["exact_words"] == ["cert"]
    assert [h["ref"] for h in data["hits"]] == ["INC-2026-201"]
    plain = client.get("/search", query_string={"q": "cert"}).get_data(as_text=True)
    assert "Searched exactly as typed" not in plain


def test_a_quoted_word_is_not_corrected(find):
    typo = find("expird")
    assert typo.corrected_from == "expird" and typo.hits
    quoted = find('"expird"')
    assert quoted.total == 0 and quoted.suggestion is None and quoted.corrected_from is None
