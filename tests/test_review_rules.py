"""Review that cannot be skipped: status and published_at change only through the review
transitions on every path (API, editor form and autosave, revision restore); a published
postmortem is changed only by amendment, with a note; visibility is for authors and admins;
and times the form shows without seconds keep their seconds."""

import pytest
from sqlmodel import select

from kb import accounts, audit, postmortems, revisions
from kb.document import to_document, validate
from kb.models import Postmortem, Revision
from tests.conftest import _csrf_token
from tests.test_editor import form_of

AUTHOR = "author@x.example"
JSON = {"Accept": "application/json"}


def _token_for(session, email):
    _row, token = accounts.create_token(session, email, "test")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def people(make_user):
    """An author of the payments team, a reviewer of another team, an admin and a reader."""
    return {
        "author": make_user(AUTHOR, role="author", teams=["payments"]),
        "reviewer": make_user("reviewer@x.example", role="author", teams=["search"]),
        "admin": make_user("admin@x.example", role="admin"),
        "reader": make_user("reader@x.example", role="reader"),
    }


def _stored(session, ref="INC-2026-001"):
    session.expire_all()
    return session.exec(select(Postmortem).where(Postmortem.ref == ref)).one()


def _published(make_postmortem, **fields):
    fields = {
        "ref": "INC-2026-001",
        "authors": [AUTHOR],
        "published_at": "2026-03-09T13:41:55Z",
        **fields,
    }
    return make_postmortem(**fields)


# --- the API ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["published", "in-review"])
def test_api_post_cannot_create_past_review(client, session, people, status):
    """A new postmortem starts as a draft: asking for another status is a 422 naming it."""
    for who in ("author", "admin"):
        headers = _token_for(session, people[who].email)
        doc = {
            "title": "Checkout errors after a push",
            "status": status,
            "severity": "SEV2",
            "started_at": "2026-03-02T09:14:00Z",
            "published_at": "2026-03-09T16:00:00Z",
            "summary": "Checkout failed.",
        }
        response = client.post("/api/v1/postmortems", json=doc, headers=headers)
        assert response.status_code == 422, response.json
        fields = [e["field"] for e in response.json["error"]["errors"]]
        assert "status" in fields
        assert "transitions" in response.json["error"]["message"]
    assert session.exec(select(Postmortem)).all() == []


def test_api_post_cannot_set_published_at(client, session, people):
    headers = _token_for(session, AUTHOR)
    doc = {"title": "A draft that claims a date", "published_at": "2026-03-09T16:00:00Z"}
    response = client.post("/api/v1/postmortems", json=doc, headers=headers)
    assert response.status_code == 422
    assert response.json["error"]["errors"][0]["field"] == "published_at"
    assert session.exec(select(Postmortem)).all() == []
    drafted = client.post(
        "/api/v1/postmortems", json={"title": "A plain draft", "status": "draft"}, headers=headers
    )
    assert drafted.status_code == 201 and drafted.json["status"] == "draft"


def test_api_put_cannot_change_status_or_published_at(client, session, people, make_postmortem):
    _published(make_postmortem)
    headers = _token_for(session, "admin@x.example")
    doc = client.get("/api/v1/postmortems/INC-2026-001", headers=headers).json
    for field, value in (("status", "draft"), ("published_at", "2026-03-10T00:00:00Z")):
        body = {**doc, field: value, "note": "trying a shortcut"}
        response = client.put("/api/v1/postmortems/INC-2026-001", json=body, headers=headers)
        assert response.status_code == 422, (field, response.json)
        assert response.json["error"]["errors"][0]["field"] == field
    pm = _stored(session)
    assert (pm.status, pm.version) == ("published", 1)
    assert pm.published_at.isoformat() == "2026-03-09T13:41:55+00:00"


def test_api_put_on_published_needs_a_note(client, session, people, make_postmortem):
    _published(make_postmortem)
    headers = _token_for(session, AUTHOR)
    doc = client.get("/api/v1/postmortems/INC-2026-001", headers=headers).json
    doc["detection"] = "An alert on checkout errors paged the on-call engineer."
    missing = client.put("/api/v1/postmortems/INC-2026-001", json=doc, headers=headers)
    assert missing.status_code == 422
    assert missing.json["error"]["errors"][0]["field"] == "note"
    assert "amendment" in missing.json["error"]["message"]
    assert _stored(session).version == 1
    too_long = client.put(
        "/api/v1/postmortems/INC-2026-001", json={**doc, "note": "x" * 201}, headers=headers
    )
    assert too_long.status_code == 422 and _stored(session).version == 1
    amended = client.put(
        "/api/v1/postmortems/INC-2026-001",
        json={**doc, "note": "added how it was detected"},
        headers=headers,
    )
    assert amended.status_code == 200, amended.json
    pm = _stored(session)
    assert (pm.version, pm.status) == (2, "published")
    assert pm.published_at.isoformat() == "2026-03-09T13:41:55+00:00"
    latest = revisions.history(session, pm)[0]
    assert latest.amendment == "added how it was detected"
    listed = client.get("/api/v1/postmortems/INC-2026-001/revisions", headers=headers).json
    assert listed["items"][0]["amendment"] == "added how it was detected"
    assert listed["items"][1]["amendment"] is None
    assert [e.action for e in audit.recent(session, ref="INC-2026-001", action="amend")]


def test_api_put_on_published_by_someone_else_is_refused(client, session, people, make_postmortem):
    """A reviewer outside the authors and teams may not change a published postmortem."""
    _published(make_postmortem)
    headers = _token_for(session, "reviewer@x.example")
    doc = client.get("/api/v1/postmortems/INC-2026-001", headers=headers).json
    doc.update(summary="Rewritten after publication", note="my edit")
    response = client.put("/api/v1/postmortems/INC-2026-001", json=doc, headers=headers)
    assert response.status_code == 403
    assert _stored(session).version == 1


def test_a_named_reader_cannot_widen_a_restricted_postmortem(
    app, client, session, people, make_postmortem
):
    """An author who is only a named reader may edit the draft, not who can read it (where
    every reader may read drafts: by default a named reader is not involved in one)."""
    app.config["UNPUBLISHED_READERS"] = "everyone"
    make_postmortem(
        ref="INC-2026-001",
        status="draft",
        visibility="restricted",
        teams=["security"],
        authors=["someone@x.example"],
        readers=["reviewer@x.example"],
    )
    headers = _token_for(session, "reviewer@x.example")
    doc = client.get("/api/v1/postmortems/INC-2026-001", headers=headers).json
    for change in (
        {"visibility": "internal"},
        {"readers": ["reviewer@x.example", "friend@x.example"]},
        {"teams": ["security", "search"]},
        {"authors": ["someone@x.example", "reviewer@x.example"]},
    ):
        body = {**doc, **change}
        response = client.put("/api/v1/postmortems/INC-2026-001", json=body, headers=headers)
        assert response.status_code == 403, change
        assert response.json["error"]["errors"][0]["field"] == next(iter(change))
    assert _stored(session).visibility == "restricted" and _stored(session).version == 1
    fixed = client.put(
        "/api/v1/postmortems/INC-2026-001",
        json={**doc, "summary": "A typo fixed by a reader who writes"},
        headers=headers,
    )
    assert fixed.status_code == 200


def test_authors_and_admins_may_change_visibility(client, session, people, make_postmortem):
    make_postmortem(ref="INC-2026-001", status="draft", authors=[AUTHOR], teams=["search"])
    for email, visibility in ((AUTHOR, "restricted"), ("admin@x.example", "internal")):
        headers = _token_for(session, email)
        doc = client.get("/api/v1/postmortems/INC-2026-001", headers=headers).json
        doc["visibility"] = visibility
        response = client.put("/api/v1/postmortems/INC-2026-001", json=doc, headers=headers)
        assert response.status_code == 200, response.json
        assert _stored(session).visibility == visibility
    # a member of the team who is not an author may not
    headers = _token_for(session, "reviewer@x.example")
    doc = client.get("/api/v1/postmortems/INC-2026-001", headers=headers).json
    doc["visibility"] = "restricted"
    response = client.put("/api/v1/postmortems/INC-2026-001", json=doc, headers=headers)
    assert response.status_code == 403
    events = audit.recent(session, ref="INC-2026-001", action="visibility")
    assert [e.detail for e in events] == ["restricted -> internal", "internal -> restricted"]


# --- the editor ---------------------------------------------------------------------------


def _login(login, user):
    login(user)


def test_editor_keeps_published_at_and_its_seconds(client, session, people, login, make_postmortem):
    """An unrelated edit once moved "Published" from 13:41:55 to 13:41:00."""
    _published(make_postmortem)
    login(people["author"])
    data = form_of(client, "INC-2026-001")
    assert "published_at" not in data  # shown, not a field
    data.update(
        impact="About 8% of checkouts failed.",
        note="added the impact",
        published_at="2026-01-01T00:00",
    )
    response = client.post("/postmortems/INC-2026-001/edit", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    pm = _stored(session)
    assert pm.impact == "About 8% of checkouts failed." and pm.version == 2
    assert pm.published_at.isoformat() == "2026-03-09T13:41:55+00:00"
    assert pm.status == "published"


def test_editor_times_keep_their_seconds_when_not_changed(
    client, session, people, login, make_postmortem
):
    make_postmortem(
        ref="INC-2026-001",
        status="draft",
        started_at="2026-03-02T09:14:55Z",
        detected_at="2026-03-02T09:31:07Z",
        timeline=[
            {"at": "2026-03-02T09:14:55Z", "text": "Errors start"},
            {"at": "2026-03-02T09:31:07Z", "text": "Paged"},
        ],
    )
    login(people["author"])
    data = form_of(client, "INC-2026-001")
    assert data["started_at"] == "2026-03-02T09:14"  # the form shows minutes
    data.update(summary="Only the summary changed.", detected_at="2026-03-02T09:32")
    data["timeline-1-at"] = "2026-03-02T09:32"
    response = client.post("/postmortems/INC-2026-001/edit", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    pm = _stored(session)
    assert pm.summary == "Only the summary changed."
    assert pm.started_at.isoformat() == "2026-03-02T09:14:55+00:00"
    assert pm.detected_at.isoformat() == "2026-03-02T09:32:00+00:00"
    assert [e["at"] for e in pm.timeline] == ["2026-03-02T09:14:55Z", "2026-03-02T09:32:00Z"]


def test_editor_times_keep_their_seconds_in_another_time_zone(
    client, session, people, login, make_postmortem
):
    """The page's script shows times in the browser's zone; seconds survive that too."""
    make_postmortem(
        ref="INC-2026-001",
        status="draft",
        started_at="2026-03-02T09:14:55Z",
        detected_at="2026-03-02T09:31:07Z",
        mitigated_at=None,
        resolved_at=None,
    )
    login(people["author"])
    data = form_of(client, "INC-2026-001")
    data.update(
        tz="Asia/Kolkata",
        started_at="2026-03-02T14:44",
        detected_at="2026-03-02T15:01",
        summary="Seen from Pune",
    )
    assert client.post("/postmortems/INC-2026-001/edit", data=data).status_code == 302
    pm = _stored(session)
    assert pm.started_at.isoformat() == "2026-03-02T09:14:55+00:00"
    assert pm.detected_at.isoformat() == "2026-03-02T09:31:07+00:00"


def test_editor_amendment_needs_a_note_without_javascript(
    client, session, people, login, make_postmortem
):
    _published(make_postmortem)
    login(people["author"])
    page = client.get("/postmortems/INC-2026-001/edit").get_data(as_text=True)
    assert 'name="note"' in page and "amendment" in page.lower()
    assert "data-autosave" not in page  # a published postmortem is not saved as you type
    data = form_of(client, "INC-2026-001")
    data.update(detection="An alert on checkout errors paged the on-call engineer.", note="")
    response = client.post("/postmortems/INC-2026-001/edit", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "amendment needs a note" in page
    assert "An alert on checkout errors paged" in page  # nothing typed is lost
    assert _stored(session).version == 1

    data["note"] = "corrected the detection time"
    response = client.post("/postmortems/INC-2026-001/edit", data={**data, "then": "view"})
    assert response.status_code == 302
    pm = _stored(session)
    assert (pm.version, pm.status) == (2, "published")
    shown = client.get("/postmortems/INC-2026-001").get_data(as_text=True)
    day = revisions.history(session, pm)[0].created_at
    assert f"Amended {day.day} {day.strftime('%b')}" in shown
    assert "corrected the detection time" in shown
    history = client.get("/postmortems/INC-2026-001/revisions").get_data(as_text=True)
    assert "Amendment" in history and "corrected the detection time" in history


def test_editor_nothing_changed_needs_no_note(client, session, people, login, make_postmortem):
    _published(make_postmortem)
    login(people["author"])
    data = form_of(client, "INC-2026-001")
    response = client.post("/postmortems/INC-2026-001/edit", data=data)
    assert response.status_code == 302
    assert _stored(session).version == 1


def test_autosave_does_not_save_a_published_postmortem(
    client, session, people, login, make_postmortem
):
    _published(make_postmortem)
    login(people["author"])
    data = form_of(client, "INC-2026-001")
    data.update(summary="Typed after publication", note="a note typed as well")
    response = client.post("/postmortems/INC-2026-001/autosave", data=data, headers=JSON)
    assert response.status_code == 422
    assert response.json["error"]["errors"][0]["field"] == "note"
    assert _stored(session).version == 1


def test_a_reviewer_cannot_change_a_published_postmortem_in_the_editor(
    client, session, people, login, make_postmortem
):
    _published(make_postmortem)
    login(people["reviewer"])
    assert client.get("/postmortems/INC-2026-001/edit").status_code == 403
    token = _csrf_token(client)
    data = {"csrf_token": token, "version": "1", "title": "Rewritten", "note": "mine now"}
    assert client.post("/postmortems/INC-2026-001/edit", data=data).status_code == 403
    assert client.post("/postmortems/INC-2026-001/autosave", data=data).status_code == 403
    page = client.get("/postmortems/INC-2026-001").get_data(as_text=True)
    assert "/postmortems/INC-2026-001/edit" not in page
    assert _stored(session).title != "Rewritten"


def test_team_members_who_write_may_amend(client, session, make_user, login, make_postmortem):
    _published(make_postmortem, authors=["someone@x.example"])
    login(make_user("teammate@x.example", role="author", teams=["payments"]))
    data = form_of(client, "INC-2026-001")
    data.update(lessons="Stage pushes.", note="added a lesson")
    assert client.post("/postmortems/INC-2026-001/edit", data=data).status_code == 302
    assert _stored(session).version == 2


def test_editor_refuses_visibility_from_a_named_reader(
    app, client, session, people, login, make_postmortem
):
    app.config["UNPUBLISHED_READERS"] = "everyone"  # a named reader reads drafts only so
    make_postmortem(
        ref="INC-2026-001",
        status="draft",
        visibility="restricted",
        teams=["security"],
        authors=["someone@x.example"],
        readers=["reviewer@x.example"],
    )
    login(people["reviewer"])
    data = form_of(client, "INC-2026-001")
    data["visibility"] = "internal"
    response = client.post("/postmortems/INC-2026-001/edit", data=data)
    assert response.status_code == 403
    assert "who can read it" in response.get_data(as_text=True)
    autosaved = client.post("/postmortems/INC-2026-001/autosave", data=data, headers=JSON)
    assert autosaved.status_code == 403
    assert autosaved.json["error"]["errors"][0]["field"] == "visibility"
    assert _stored(session).visibility == "restricted"


# --- restoring a revision -----------------------------------------------------------------


def test_restore_keeps_status_published_at_and_visibility(
    client, session, people, login, make_postmortem
):
    """An old revision (a draft, internal, without a date) is not a way around review."""
    make_postmortem(
        ref="INC-2026-001",
        status="draft",
        published_at=None,
        authors=[AUTHOR],
        summary="First words",
    )
    pm = _stored(session)
    doc = to_document(pm)
    doc.update(
        status="published",
        visibility="restricted",
        published_at="2026-03-09T13:41:55Z",
        summary="Published words",
    )
    postmortems.save_document(session, validate(doc), None, note="imported")
    session.commit()
    login(people["author"])
    token = _csrf_token(client)
    refused = client.post(
        "/postmortems/INC-2026-001/revisions/1/restore",
        data={"csrf_token": token, "version": "2"},
    )
    assert refused.status_code == 302
    assert _stored(session).version == 2  # a published postmortem needs a note to restore
    restored = client.post(
        "/postmortems/INC-2026-001/revisions/1/restore",
        data={"csrf_token": token, "version": "2", "note": "the first summary was right"},
    )
    assert restored.status_code == 302
    pm = _stored(session)
    assert pm.summary == "First words" and pm.version == 3
    assert (pm.status, pm.visibility) == ("published", "restricted")
    assert pm.published_at.isoformat() == "2026-03-09T13:41:55+00:00"
    assert revisions.history(session, pm)[0].amendment == "the first summary was right"


def test_restore_by_a_named_reader_cannot_change_visibility(
    app, client, session, people, login, make_postmortem
):
    app.config["UNPUBLISHED_READERS"] = "everyone"  # a named reader reads drafts only so
    make_postmortem(
        ref="INC-2026-001",
        status="draft",
        visibility="restricted",
        teams=["security"],
        authors=["someone@x.example"],
        readers=["reviewer@x.example"],
        summary="Restricted words",
    )
    pm = _stored(session)
    # an admin once made it internal, then restricted again
    for visibility in ("internal", "restricted"):
        doc = to_document(pm)
        doc.update(visibility=visibility, summary=f"{visibility} words")
        postmortems.save_document(session, validate(doc), people["admin"])
        session.commit()
    login(people["reviewer"])
    client.post(
        "/postmortems/INC-2026-001/revisions/2/restore",
        data={"csrf_token": _csrf_token(client), "version": "3"},
    )
    pm = _stored(session)
    assert pm.visibility == "restricted" and pm.summary == "internal words"


# --- transitions --------------------------------------------------------------------------


def test_transitions_are_audited(client, session, people, make_postmortem):
    make_postmortem(ref="INC-2026-001", status="draft", published_at=None, authors=[AUTHOR])
    author = _token_for(session, AUTHOR)
    reviewer = _token_for(session, "reviewer@x.example")
    url = "/api/v1/postmortems/INC-2026-001/transitions"
    steps = [
        (author, {"action": "request-review", "reviewers": ["reviewer@x.example"]}),
        (reviewer, {"action": "request-changes", "comment": "Say how it was detected."}),
        (author, {"action": "request-review", "reviewers": ["reviewer@x.example"]}),
        (reviewer, {"action": "approve"}),
    ]
    for headers, body in steps:
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 200, response.json
    events = list(reversed(audit.recent(session, ref="INC-2026-001", action="status")))
    assert [(e.actor_email, e.detail) for e in events] == [
        (AUTHOR, "draft -> in-review"),
        ("reviewer@x.example", "in-review -> draft"),
        (AUTHOR, "draft -> in-review"),
        ("reviewer@x.example", "in-review -> published"),
    ]
    assert _stored(session).published_at is not None


def test_kb_import_may_carry_published_history(runner, session, tmp_path):
    import json

    from tests.conftest import document

    path = tmp_path / "history.json"
    path.write_text(json.dumps(document(ref="INC-2026-009", published_at="2026-03-09T13:41:55Z")))
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    pm = _stored(session, "INC-2026-009")
    assert pm.status == "published"
    assert pm.published_at.isoformat() == "2026-03-09T13:41:55+00:00"
    assert session.exec(select(Revision)).one().note == "imported"
