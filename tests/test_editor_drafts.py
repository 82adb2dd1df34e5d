"""Drafts save whatever can be stored: one refused value never stops the others."""

import re

import pytest

from kb import accounts, postmortems
from kb.document import DocumentError, normalise_name, validate
from tests.conftest import document
from tests.test_editor import form_of

JSON = {"Accept": "application/json"}
FACTORS = [
    {"text": "Certificates were renewed by hand.", "category": "certificates"},
    {"text": "The alert went to an unwatched channel.", "category": "monitoring"},
    {"text": "Retries multiplied the load.", "category": "retries"},
    {"text": "The change skipped the staged rollout.", "category": None},
]


@pytest.fixture
def author(make_user, login):
    user = make_user("author@x.example", role="author", teams=["payments"])
    login(user)
    return user


@pytest.fixture
def api_reader(app, session, author):
    """Another session: the API, with the author's token, in a client of its own."""
    _row, token = accounts.create_token(session, author.email, "test")
    session.commit()
    other = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    return lambda ref: other.get(f"/api/v1/postmortems/{ref}", headers=headers).json


@pytest.fixture
def draft(make_postmortem, author):
    return make_postmortem(
        ref="INC-2026-001",
        status="draft",
        published_at=None,
        authors=[author.email],
        contributing_factors=FACTORS,
    )


def test_one_refused_value_leaves_the_others_saved_and_fixing_it_saves_it(
    client, draft, api_reader
):
    data = form_of(client, "INC-2026-001")
    data["summary"] = "Typed after the bad category, and saved all the same."
    data["factor-3-category"] = "ops/infra"
    answer = client.post("/postmortems/INC-2026-001/autosave", data=data, headers=JSON)
    assert answer.status_code == 200 and answer.json["saved"] is True
    [refused] = answer.json["refused"]
    assert refused["field"] == "contributing_factors[3].category"
    assert refused["input"] == "factor-3-category"
    assert refused["label"] == "Contributing factor 4, category"
    assert "ops/infra" in refused["message"]
    stored = api_reader("INC-2026-001")
    assert stored["summary"] == data["summary"]
    assert stored["contributing_factors"][3]["category"] is None
    assert stored["version"] == answer.json["version"]

    data["version"] = str(answer.json["version"])
    data["impact"] = "Typed later still: every autosave keeps reaching the server."
    later = client.post("/postmortems/INC-2026-001/autosave", data=data, headers=JSON)
    assert later.status_code == 200 and later.json["saved"] is True
    assert api_reader("INC-2026-001")["impact"] == data["impact"]

    data["version"] = str(later.json["version"])
    data["factor-3-category"] = "ops-infra"
    fixed = client.post("/postmortems/INC-2026-001/autosave", data=data, headers=JSON)
    assert fixed.status_code == 200 and fixed.json["refused"] == []
    assert api_reader("INC-2026-001")["contributing_factors"][3]["category"] == "ops-infra"


def test_the_field_is_named_by_its_place_on_the_page_when_rows_were_reordered(client, draft):
    data = form_of(client, "INC-2026-001")
    data["factor-0-position"] = "9"  # the first row moves to the end: it is factor 4 now
    data["factor-0-category"] = "ops/infra"
    answer = client.post("/postmortems/INC-2026-001/autosave", data=data, headers=JSON)
    [refused] = answer.json["refused"]
    assert refused["label"] == "Contributing factor 4, category"
    assert refused["input"] == "factor-0-category"


def test_without_javascript_the_save_marks_the_field_and_keeps_what_was_typed(
    client, draft, session
):
    data = form_of(client, "INC-2026-001")
    data["summary"] = "A paragraph that must not be lost."
    data["factor-3-category"] = "ops/infra"
    data["tags"] = "TLS, Change Management, a/b"
    response = client.post("/postmortems/INC-2026-001/edit", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Saved, except 2 values that cannot be stored" in page
    category = re.search(r'<input name="factor-3-category"[^>]*>', page).group(0)
    assert 'value="ops/infra"' in category and 'aria-invalid="true"' in category
    assert 'aria-describedby="err-contributing_factors-3-category"' in category
    assert re.search(
        r'id="err-contributing_factors-3-category">Contributing factor 4, category: ', page
    )
    tags = re.search(r'<input id="f-tags"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in tags and "a/b" in tags
    assert "Tags, entry 3: must be a name" in page
    session.expire_all()
    pm = postmortems.get(session, "INC-2026-001", None)
    assert pm.summary == "A paragraph that must not be lost."
    assert pm.label_values("tags") == ["tls", "change-management"]


def test_rules_a_draft_cannot_meet_yet_wait_for_the_review(client, draft, session, make_user):
    data = form_of(client, "INC-2026-001")
    data.update(
        {
            "detected_at": "2026-03-01T00:00",  # before it started: fine while a draft
            "timeline-0-text": "Someone noticed; the time is still to be looked up",
            "timeline-0-at": "",
            "factor-4-text": "DN",
            "action-1-title": "Fi",
            "link-0-title": "The graph",
        }
    )
    answer = client.post("/postmortems/INC-2026-001/autosave", data=data, headers=JSON)
    assert answer.status_code == 200 and answer.json["refused"] == []
    session.expire_all()
    pm = postmortems.get(session, "INC-2026-001", None)
    assert pm.timeline[0] == {
        "at": None,
        "text": "Someone noticed; the time is still to be looked up",
        "source": None,
    }
    assert pm.factors[4].text == "DN"
    reviewer = make_user("reviewer@x.example", role="author")
    tr = client.post(
        "/postmortems/INC-2026-001/transition",
        data={
            "action": "request-review",
            "reviewer_list": reviewer.email,
            "csrf_token": data["csrf_token"],
        },
        follow_redirects=True,
    )
    page = tr.get_data(as_text=True)
    assert "Before it can be in review, fill in" in page
    assert "detected_at: must not be before started_at" in page
    session.expire_all()
    assert postmortems.get(session, "INC-2026-001", None).status == "draft"


def test_a_published_postmortem_still_changes_all_or_nothing(client, make_postmortem, author):
    make_postmortem(ref="INC-2026-002", authors=[author.email])
    data = form_of(client, "INC-2026-002")
    data.update(summary="Amended text", note="corrected the summary", severity="SEV9")
    response = client.post("/postmortems/INC-2026-002/edit", data=data)
    assert response.status_code == 422
    assert "Severity: must be one of" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Change Management", "change-management"),
        ("  change   management ", "change-management"),
        ("DNS", "dns"),
        ("feature_flags", "feature_flags"),
    ],
)
def test_names_are_normalised(typed, stored):
    assert normalise_name(typed) == stored
    doc = validate(
        document(
            tags=[typed],
            teams=[typed],
            services=[typed],
            contributing_factors=[{"text": "A factor here", "category": typed}],
        )
    )
    assert doc["tags"] == doc["teams"] == doc["services"] == [stored]
    assert doc["contributing_factors"][0]["category"] == stored


def test_names_that_cannot_be_normalised_are_refused_with_the_value():
    with pytest.raises(DocumentError) as info:
        validate(document(tags=["a/b"], contributing_factors=[{"text": "xyz", "category": "ü"}]))
    messages = {e.field: e.message for e in info.value.errors}
    assert messages["tags[0]"].endswith('(got "a/b")')
    assert "letters a-z" in messages["contributing_factors[0].category"]


def test_the_api_normalises_names_too(client, session, make_user):
    make_user("writer@x.example", role="author")
    _row, token = accounts.create_token(session, "writer@x.example", "test")
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post(
        "/api/v1/postmortems",
        json={"title": "Cache stampede", "tags": ["Change Management"], "teams": ["Payments"]},
        headers=headers,
    )
    assert created.status_code == 201, created.json
    stored = client.get(created.headers["Location"], headers=headers).json
    assert stored["tags"] == ["change-management"] and stored["teams"] == ["payments"]
