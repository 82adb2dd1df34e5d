"""Typo recovery: a query that finds nothing is searched again with corrected words, and the
page says so and offers the words as typed. Corrections come from the reader's visible
postmortems only, and never replace a known synonym or abbreviation. Real Whoosh indexes on
disk, SQLite and PostgreSQL."""

import pytest

from kb.search import query as search_query
from kb.search.index import for_app
from kb.search.service import service_for

QUIET = {
    "contributing_factors": [{"text": "Nothing watched the date."}],
    "action_items": [],
    "trigger": None,
    "detected_at": None,
    "mitigated_at": None,
    "resolved_at": None,
}


@pytest.fixture
def corpus(make_postmortem):
    make_postmortem(
        ref="INC-2026-001",
        title="Expired certificate on the mail relay",
        summary="The relay certificate expired at midnight and mail queued.",
        teams=["platform"],
        **QUIET,
    )
    make_postmortem(
        ref="INC-2026-002",
        title="The lab network was flooded",
        summary="A loop in the lab switches flooded the network.",
        teams=["platform"],
        **QUIET,
    )
    make_postmortem(
        ref="INC-2026-003",
        title="Restricted: a leaked credential rotation",
        summary="The vaultkeeper rotation failed for a day.",
        visibility="restricted",
        teams=["security"],
        **QUIET,
    )


@pytest.fixture
def find(app, corpus):
    with app.app_context():
        service_for(app).syncer.run_once()

    def run(text="", user=None, **kwargs):
        with app.app_context():
            return search_query.search(for_app(app), user, text, **kwargs)

    return run


def refs(result):
    return [h.ref for h in result.hits]


def test_nothing_found_is_searched_again_with_the_corrected_words(find):
    result = find("certifcate expird")
    assert refs(result) == ["INC-2026-001"]
    assert result.text == "certificate expired"
    assert result.corrected_from == "certifcate expird"
    assert result.suggestion == "certificate expired"


def test_the_words_as_typed_can_be_searched_without_correction(find):
    result = find("certifcate expird", correct=False)
    assert result.total == 0 and result.corrected_from is None
    assert result.suggestion == "certificate expired"  # offered, not applied


def test_a_query_that_finds_something_is_not_corrected(find):
    result = find("certificate relay")
    assert result.corrected_from is None and refs(result) == ["INC-2026-001"]


def test_a_known_abbreviation_is_never_corrected(find):
    # "lb" is one edit from "lab", which the index holds; it is a known abbreviation (load
    # balancer), so it is searched as such and never turned into "lab".
    result = find("lb")
    assert result.total == 0 and result.suggestion is None and result.corrected_from is None
    assert "load balancer" in result.also
    assert find("lbb").suggestion == "lab"  # an unknown word next to it still is


def test_a_correction_never_comes_from_a_postmortem_the_reader_cannot_see(find, make_user, session):
    outsider = make_user("outsider@x.example", teams=["platform"])
    insider = make_user("insider@x.example", teams=["security"])
    for user in (outsider, insider):
        session.refresh(user)
    hidden = find("vaultkeper", user=outsider)
    assert hidden.total == 0 and hidden.suggestion is None and hidden.corrected_from is None
    seen = find("vaultkeper", user=insider)
    assert seen.corrected_from == "vaultkeper" and refs(seen) == ["INC-2026-003"]


# --- the page and the API ---------------------------------------------------------------------


@pytest.fixture
def reader(make_user, login, find):
    user = make_user("reader@x.example", teams=["platform"])
    login(user)
    return user


def test_the_page_says_which_words_it_searched_and_links_to_the_typed_ones(client, reader):
    body = client.get("/search?q=certifcate+expird").get_data(as_text=True)
    assert "Showing results for" in body and "<strong>certificate expired</strong>" in body
    assert "search instead for" in body
    literal = "/search?q=certifcate+expird&amp;literal=1"
    assert f'href="{literal}">certifcate expird</a>' in body
    assert "INC-2026-001" in body
    typed = client.get(literal.replace("&amp;", "&")).get_data(as_text=True)
    assert "Showing results for" not in typed and "INC-2026-001" not in typed
    assert "Did you mean" in typed and "certificate expired</a>?" in typed
    # The "did you mean" link leaves the literal search for a corrected one.
    assert 'href="/search?q=certificate+expired"' in typed


def test_the_api_reports_the_correction(client, reader):
    data = client.get("/api/v1/search?q=certifcate+expird").get_json()
    assert data["query"] == "certificate expired"
    assert data["corrected_from"] == "certifcate expird"
    assert [h["ref"] for h in data["hits"]] == ["INC-2026-001"]
    data = client.get("/api/v1/search?q=certifcate+expird&literal=1").get_json()
    assert data["total"] == 0 and data["corrected_from"] is None
    assert data["suggestion"] == "certificate expired"


def test_corrections_are_looked_up_once_per_search(find, monkeypatch):
    from kb.search import spelling

    looked_up = []
    candidates = spelling._candidates

    def counting(reader, stemmed):
        looked_up.append(stemmed)
        return candidates(reader, stemmed)

    monkeypatch.setattr(spelling, "_candidates", counting)
    assert find("certifcate expird").corrected_from == "certifcate expird"
    assert len(looked_up) == 2  # the two unknown words, not again for the retry
