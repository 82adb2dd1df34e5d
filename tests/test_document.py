"""The document format: every validation rule, with good and bad documents."""

import pytest

from kb.document import FORMAT, DocumentError, validate
from tests.conftest import document


def errors_of(doc):
    with pytest.raises(DocumentError) as info:
        validate(doc)
    return {e.field: e.message for e in info.value.errors}


def test_a_full_document_is_valid_and_normalised():
    doc = validate(document(started_at="2026-03-02T10:14:00+01:00", title="  Padded title  "))
    assert doc["title"] == "Padded title"
    assert doc["started_at"].isoformat() == "2026-03-02T09:14:00+00:00"
    assert doc["contributing_factors"][0]["category"] == "change-management"
    assert doc["action_items"][0]["status"] == "open"


def test_a_draft_needs_only_a_title():
    doc = validate({"title": "Something odd with DNS"})
    assert doc["status"] == "draft"
    assert doc["kind"] == "incident"
    assert doc["visibility"] == "internal"
    assert doc["severity"] is None
    assert doc["ref"] is None


def test_the_format_marker_is_checked():
    assert validate(document(format=FORMAT))
    assert "format" in errors_of(document(format="hindsight/postmortem@2"))


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"title": None}, "title", "is required"),
        ({"title": "ab"}, "title", "at least 3"),
        ({"title": "x" * 201}, "title", "at most 200"),
        ({"title": "two\nlines"}, "title", "one line"),
        ({"title": 42}, "title", "must be text"),
        ({"ref": "-inc-1"}, "ref", "starting with a letter or a digit"),
        ({"ref": "INC 123"}, "ref", "1 to 64 letters, digits"),
        ({"ref": "x" * 65}, "ref", "1 to 64"),
        ({"kind": "outage"}, "kind", "incident, near-miss, game-day"),
        ({"status": "done"}, "status", "draft, in-review, published"),
        ({"severity": "SEV5"}, "severity", "SEV1, SEV2, SEV3, SEV4"),
        ({"severity": None}, "severity", "required once a postmortem is published"),
        ({"visibility": "secret"}, "visibility", "internal, restricted"),
        ({"trigger": "gremlins"}, "trigger", "deploy"),
        ({"teams": "payments"}, "teams", "must be a list"),
        ({"teams": ["payments/team"]}, "teams[0]", "letters a-z, digits"),
        ({"teams": ["a", "a"]}, "teams[1]", "listed twice"),
        ({"tags": [f"t{i}" for i in range(31)]}, "tags", "at most 30"),
        ({"authors": ["<script>"]}, "authors[0]", "e-mail addresses or people's names"),
        ({"authors": ["two@at@signs"]}, "authors[0]", "no @ < >"),
        ({"started_at": "2026-03-02 09:14"}, "started_at", "time zone"),
        ({"started_at": "2026-03-02T09:14:00"}, "started_at", "time zone"),
        ({"started_at": "2026-03-02"}, "started_at", "time zone"),
        ({"started_at": None}, "started_at", "is required"),
        ({"published_at": None}, "published_at", "is required"),
        ({"detected_at": "2026-03-02T09:00:00Z"}, "detected_at", "not be before started_at"),
        ({"resolved_at": "2026-03-02T10:00:00Z"}, "resolved_at", "not be before mitigated_at"),
        ({"published_at": "2026-03-01T00:00:00Z"}, "published_at", "not be before started_at"),
        ({"summary": None}, "summary", "is required"),
        ({"impact": "x" * 50_001}, "impact", "at most 50,000"),
        ({"timeline": {"at": "x"}}, "timeline", "must be a list"),
        ({"timeline": ["text"]}, "timeline[0]", "must be an object"),
        ({"timeline": [{"at": "noon", "text": "x"}]}, "timeline[0].at", "time zone"),
        ({"timeline": [{"at": "2026-03-02T09:14:00Z"}]}, "timeline[0].text", "is required"),
        (
            {"timeline": [{"at": "2026-03-02T09:14:00Z", "text": "a", "by": "x"}]},
            "timeline[0].by",
            "not a field",
        ),
        ({"contributing_factors": [{"text": "no"}]}, "contributing_factors[0].text", "at least 3"),
        (
            {"contributing_factors": [{"text": "A factor", "category": "big/one"}]},
            "contributing_factors[0].category",
            "letters a-z",
        ),
        (
            {"action_items": [{"title": "Fix it", "due": "next week"}]},
            "action_items[0].due",
            "2026-04-15",
        ),
        (
            {"action_items": [{"title": "Fix it", "status": "closed"}]},
            "action_items[0].status",
            "open, in-progress, done, wont-do",
        ),
        (
            {"action_items": [{"title": "Fix it", "factor": 5}]},
            "action_items[0].factor",
            "from 0 to 0",
        ),
        (
            {"action_items": [{"title": "Fix it", "url": "javascript:alert(1)"}]},
            "action_items[0].url",
            "http",
        ),
        ({"links": [{"title": "x"}]}, "links[0].url", "is required"),
        ({"links": [{"title": "x", "url": "ftp://example.com"}]}, "links[0].url", "http"),
        ({"colour": "blue"}, "colour", "not a field of this format"),
    ],
)
def test_each_rule_names_the_field_and_says_what_is_wrong(fields, field, words):
    errors = errors_of(document(**fields))
    assert field in errors, errors
    assert words in errors[field]


def test_every_problem_is_reported_at_once():
    errors = errors_of(document(title="", severity="SEV9", kind="oops"))
    assert {"title", "severity", "kind"} <= set(errors)


def test_a_non_object_is_refused():
    with pytest.raises(DocumentError, match="JSON object"):
        validate(["not", "a", "document"])


def test_the_ref_of_a_bad_document_is_kept_for_the_report():
    with pytest.raises(DocumentError) as info:
        validate(document(ref="INC-2026-001", severity="SEV0"))
    assert info.value.ref == "INC-2026-001"


def test_text_a_database_cannot_store_is_refused():
    errors = errors_of(document(summary="a\x00b", timeline=[{"at": "x", "text": "\ud800"}]))
    assert errors == {
        "summary": "contains a NUL character",
        "timeline[0].text": "contains characters that are not valid Unicode",
    }


def test_refs_and_authors_as_organisations_write_them():
    for ref in ("INC-123", "OPS-4521", "2024-03-01-db-outage", "inc_7.b", "A"):
        assert validate(document(ref=ref))["ref"] == ref
    doc = validate(document(authors=["Priya Natarajan", "dana@example.com"]))
    assert doc["authors"] == ["Priya Natarajan", "dana@example.com"]
