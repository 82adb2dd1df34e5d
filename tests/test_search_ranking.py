"""Natural questions (question words left out, long queries relaxed to most of their words)
and status-aware ranking (published above drafts and reviews at equal relevance, which are
labelled). Real Whoosh indexes on disk, SQLite and PostgreSQL."""

import pytest

from kb.search import parsing
from kb.search import query as search_query
from kb.search.index import for_app
from kb.search.service import service_for
from tests.conftest import system_search

QUIET = {
    "contributing_factors": [{"text": "Nothing in particular."}],
    "action_items": [],
    "services": ["edge"],
    "trigger": None,
    "detected_at": None,
    "mitigated_at": None,
    "resolved_at": None,
}


@pytest.fixture
def corpus(make_postmortem):
    # The conftest's document is a config push that broke checkout.
    make_postmortem(ref="INC-2026-001")
    make_postmortem(
        ref="INC-2026-002",
        title="Search index rebuilt twice",
        summary="A reindex ran twice after a push of the search service.",
        **QUIET,
    )
    for n, status in ((3, "published"), (4, "draft"), (5, "in-review")):
        make_postmortem(
            ref=f"INC-2026-00{n}",
            title="Database failover timeout",
            summary="The database failover waited for a timeout.",
            status=status,
            published_at="2026-03-09T16:00:00Z" if status == "published" else None,
            **QUIET,
        )


@pytest.fixture
def find(app, corpus):
    return system_search(app)


def refs(result):
    return [h.ref for h in result.hits]


def test_question_words_are_left_out():
    assert parsing.without_question_words("has a config push broken checkout before?") == (
        "a config push broken checkout",
        ["has", "before"],
    )
    # Not inside quotes or fields, and nothing is dropped when nothing would be left.
    assert parsing.without_question_words('"what happened" status:draft why')[0] == (
        '"what happened" status:draft'
    )
    assert parsing.without_question_words("what happened?") == ("what happened", [])
    assert parsing.without_question_words("cert?") == ("cert", [])  # a question mark
    assert parsing.without_question_words("cert?x") == ("cert?x", [])  # a wildcard
    assert parsing.without_question_words("why so slow? dns") == ("so slow dns", ["why"])


def test_a_question_finds_the_incident(find):
    result = find("has a config push broken checkout before?")
    assert refs(result)[0] == "INC-2026-001"
    assert result.ignored == ["has", "before"]
    # No postmortem says "broken", and fewer than a page have 3 of the 4 words: those with
    # any of them are shown, best match first, and the result says so.
    assert result.relaxed and result.words == 4 and result.min_words == 1
    assert "INC-2026-002" in refs(result)  # "push" only
    assert refs(result).index("INC-2026-002") > 0


def test_most_of_the_words_when_they_fill_a_page(app, find, make_postmortem):
    for n in range(10, 22):
        make_postmortem(
            ref=f"INC-2026-0{n}",
            title=f"Checkout broken after push number {n}",
            summary="A push left checkout broken.",
            **QUIET,
        )
    with app.app_context():
        service_for(app).syncer.run_once()
    result = find("has a config push broken checkout before?")
    # 12 postmortems have push, broken and checkout (3 of the 4 words), none all 4.
    assert result.relaxed and result.min_words == 3 and result.total == 13
    assert "INC-2026-002" not in refs(find("config push broken checkout", per_page=50))


def test_a_short_query_still_needs_all_its_words(find):
    result = find("push checkout")
    assert refs(result) == ["INC-2026-001"] and not result.relaxed


def test_published_ranks_above_draft_and_review_at_equal_relevance(find):
    result = find("database failover timeout")
    assert refs(result)[0] == "INC-2026-003"
    assert set(refs(result)[1:]) == {"INC-2026-004", "INC-2026-005"}
    published, *others = result.hits
    assert all(h.score < published.score for h in others)
    assert published.score / others[0].score == pytest.approx(4 / 3, rel=1e-3)


def test_a_clearly_better_draft_still_ranks_first(find, app, make_postmortem):
    make_postmortem(
        ref="INC-2026-006",
        title="Reindex storm: reindex after reindex",
        summary="Reindex jobs reindexed the search index again and again.",
        status="draft",
        published_at=None,
        **QUIET,
    )
    with app.app_context():
        service_for(app).syncer.run_once()
    assert refs(find("reindex"))[0] == "INC-2026-006"


# --- the page ---------------------------------------------------------------------------------


@pytest.fixture
def reader(make_user, login, find):
    user = make_user("admin@x.example", role="admin")  # sees drafts whatever the setting
    login(user)
    return user


def test_unpublished_hits_are_labelled(client, reader):
    body = client.get("/search?q=database+failover+timeout").get_data(as_text=True)
    assert body.count('class="badge status status-draft"') == 1
    assert '<span class="badge status status-draft" title="Not yet reviewed">Draft</span>' in body
    assert ">In review</span>" in body
    assert body.index("INC-2026-003") < body.index("INC-2026-004")


def test_the_page_says_when_a_long_query_was_relaxed(client, reader):
    body = client.get("/search?q=has+a+config+push+broken+checkout+before%3F").get_data(
        as_text=True
    )
    assert "Few postmortems have all 4 words; these have some of them" in body
    assert "Left out question words: has, before" in body
    data = client.get("/api/v1/search?q=has+a+config+push+broken+checkout+before%3F").get_json()
    assert data["relaxed"] and data["min_words"] == 1 and data["words"] == 4
    assert data["ignored_words"] == ["has", "before"]


def test_statistics_kept_between_searches_follow_deletions(app, find, session):
    """The ranking statistics of a segment are kept between searches (SegmentCaches.memo)
    until documents in it are deleted. A published postmortem's document deleted from its
    segment, the segment kept (as the follower's commits keep large segments), changes the
    scores as a fresh computation does."""
    from sqlmodel import select

    from kb.models import Postmortem
    from kb.search.index import writer

    pid = session.exec(select(Postmortem.id).where(Postmortem.ref == "INC-2026-003")).one()

    def delete(index):
        w = writer(index.open())
        w.delete_by_term("pid", str(pid))
        w.commit(merge=False)

    before, kept, fresh = _scores_around(app, delete)
    assert kept == fresh
    assert kept != before and "INC-2026-003" not in [ref for ref, _score in kept]


def _scores_around(app, change):
    """The (ref, score) of the hits of one query before `change(index)`, after it with the
    caches kept, and after it with the caches dropped: in one app context, whose end would
    close the index and drop its caches."""
    with app.app_context():
        index = for_app(app)

        def scores():
            found = search_query.search(index, None, "database failover timeout")
            return [(h.ref, h.score) for h in found.hits]

        before = scores()
        change(index)
        kept = scores()
        index.caches.clear()
        return before, kept, scores()


def test_saturated_frequencies_kept_between_searches_follow_the_mean_lengths(app, find):
    """A word's saturated frequencies are kept per segment (SegmentData.saturated) for the
    mean lengths they were made with: a long postmortem added elsewhere moves the means, and
    the scores move as a fresh computation's do."""
    from kb.document import validate
    from kb.search import schema
    from kb.search.index import writer
    from tests.conftest import document

    def add_long(index):
        # A segment of its own (the others kept, as the follower keeps large segments).
        doc = validate(document(ref="INC-2026-009", summary="words of a long text " * 400))
        w = writer(index.open())
        w.add_document(**schema.fields_for(9999, doc))
        w.commit(merge=False)

    before, kept, fresh = _scores_around(app, add_long)
    assert kept == fresh
    assert kept != before


@pytest.mark.parametrize(
    "text",
    ["database failover timeout", "(failover AND twice) OR database", "push ANDMAYBE failover"],
)
def test_common_and_rare_words_score_alike_kept_either_way(app, find, monkeypatch, text):
    """A word held by many documents keeps its saturated frequencies as one value per
    document (scoring.DENSE_SHARE), a rarer one as ids and values: both give the same scores,
    also in an ANDMAYBE's optional part, where a word counts only for the documents that
    match that part."""
    from kb.search import scoring

    def scores(share):
        monkeypatch.setattr(scoring, "DENSE_SHARE", share)
        with app.app_context():
            found = search_query.search(for_app(app), None, text)
            return [(h.ref, h.score) for h in found.hits]

    every_word_dense, no_word_dense = scores(0.0), scores(2.0)
    assert every_word_dense == no_word_dense
    assert len(no_word_dense) >= 2 and all(score for _ref, score in no_word_dense)
