"""Writing in the browser without JavaScript: the form, conflicts, workflow and revisions."""

import pytest
from sqlmodel import select

from kb import postmortems, revisions
from kb.models import Postmortem, Revision, User


@pytest.fixture
def author(make_user, login):
    user = make_user("author@x.example", role="author", teams=["payments"])
    login(user)
    return user


def form_of(client, ref):
    """The editor form of a postmortem as the browser would post it back."""
    from tests.html_checks import elements

    page = client.get(f"/postmortems/{ref}/edit").get_data(as_text=True)
    data = {}
    for tag, attrs in elements(page):
        if tag == "input" and attrs.get("name") and attrs.get("type") not in ("checkbox", "radio"):
            data[attrs["name"]] = attrs.get("value") or ""
    import re

    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        data[name] = __import__("html").unescape(body)
    for name, value in re.findall(
        r'<select[^>]*name="([^"]+)"[^>]*>.*?<option value="([^"]*)" selected', page, re.S
    ):
        data[name] = value
    return data


def test_a_title_is_enough_to_start(client, author, session):
    response = client.post(
        "/postmortems/new",
        data={"title": "Odd DNS answers", "kind": "near-miss", "csrf_token": _token(client)},
    )
    assert response.status_code == 302
    pm = session.exec(select(Postmortem)).one()
    assert (pm.title, pm.kind, pm.status) == ("Odd DNS answers", "near-miss", "draft")
    assert pm.label_values("authors") == ["author@x.example"]
    assert response.headers["Location"] == f"/postmortems/{pm.ref}/edit"


def test_a_too_short_title_is_explained(client, author):
    response = client.post("/postmortems/new", data={"title": "x", "csrf_token": _token(client)})
    assert response.status_code == 422
    assert "at least 3 characters" in response.get_data(as_text=True)


def test_readers_cannot_write(client, make_user, login, make_postmortem):
    make_postmortem(ref="INC-2026-001")
    login(make_user("reader@x.example"))
    assert client.get("/postmortems/new").status_code == 403
    assert client.get("/postmortems/INC-2026-001/edit").status_code == 403


def _token(client):
    from tests.conftest import _csrf_token

    return _csrf_token(client)


def test_editing_saves_every_field_and_converts_local_time(
    client, author, make_postmortem, session
):
    make_postmortem(ref="INC-2026-001", status="draft")
    data = form_of(client, "INC-2026-001")
    data.update(
        {
            "tz": "Europe/Paris",
            "summary": "New **summary**",
            "started_at": "2026-03-02T10:14",
            "detected_at": "2026-03-02T10:31",
            "mitigated_at": "",
            "resolved_at": "",
            "timeline-0-at": "2026-03-02T10:20",
            "timeline-0-text": "Second",
            "timeline-0-position": "2",
            "timeline-5-at": "2026-03-02T10:15",
            "timeline-5-text": "First",
            "timeline-5-position": "1",
            "factor-1-text": "A second factor",
            "factor-1-category": "capacity",
            "action-0-factor": "2",
        }
    )
    response = client.post("/postmortems/INC-2026-001/edit", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    session.expire_all()
    pm = postmortems.get(session, "INC-2026-001", None)
    assert pm.summary == "New **summary**"
    assert pm.started_at.isoformat() == "2026-03-02T09:14:00+00:00"
    assert [e["text"] for e in pm.timeline] == ["First", "Second"]
    assert pm.timeline[0]["at"] == "2026-03-02T09:15:00Z"
    assert [f.text for f in pm.factors][-1] == "A second factor"
    assert pm.action_items[0].factor == 1
    assert pm.version == 2


def test_invalid_input_is_explained_and_nothing_is_lost(client, author, make_postmortem, session):
    make_postmortem(ref="INC-2026-001", status="draft")
    data = form_of(client, "INC-2026-001")
    data.update(
        {
            "summary": "My precious paragraph",
            "detected_at": "2026-03-01T00:00",
            "action-0-due": "next week",
        }
    )
    response = client.post("/postmortems/INC-2026-001/edit", data=data)
    page = response.get_data(as_text=True)
    # A draft's times need not be in order yet; a due date that is not a date cannot be
    # stored: it is marked at its field, and the rest is saved.
    assert response.status_code == 200
    assert "Action item 1, due: must be a date" in page
    assert "must not be before started_at" not in page
    assert "My precious paragraph" in page and "next week" in page
    session.expire_all()
    pm = postmortems.get(session, "INC-2026-001", None)
    assert pm.version == 2 and pm.summary == "My precious paragraph"


def test_rows_can_be_added_and_removed_without_javascript(client, author, make_postmortem, session):
    make_postmortem(
        ref="INC-2026-001",
        status="draft",
        contributing_factors=[{"text": "Keep me"}, {"text": "Remove me"}],
    )
    data = form_of(client, "INC-2026-001")
    data["add"] = "factor"
    page = client.post("/postmortems/INC-2026-001/edit", data=data).get_data(as_text=True)
    assert page.count('name="factor-') >= 4 * 2  # two factors + two blank rows
    data = form_of(client, "INC-2026-001")
    data["factor-1-remove"] = "1"
    client.post("/postmortems/INC-2026-001/edit", data=data)
    session.expire_all()
    assert [f.text for f in postmortems.get(session, "INC-2026-001", None).factors] == ["Keep me"]


def test_a_stale_save_shows_both_versions_and_loses_nothing(
    client, author, make_postmortem, session
):
    make_postmortem(ref="INC-2026-001", status="draft", summary="Original")
    mine = form_of(client, "INC-2026-001")
    theirs = dict(mine, summary="Their words")
    assert client.post("/postmortems/INC-2026-001/edit", data=theirs).status_code == 302
    mine["summary"] = "My words"
    response = client.post("/postmortems/INC-2026-001/edit", data=mine)
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert '<mark class="differs">My</mark> words' in page
    assert '<mark class="differs">Their</mark> words' in page
    session.expire_all()
    assert postmortems.get(session, "INC-2026-001", None).summary == "Their words"

    from tests.html_checks import elements

    resolved = {
        a["name"]: a.get("value", "")
        for t, a in elements(page)
        if t == "input" and a.get("name") and a.get("type") != "radio"
    }
    resolved["choose-summary"] = "mine"
    assert client.post("/postmortems/INC-2026-001/edit", data=resolved).status_code == 302
    session.expire_all()
    pm = postmortems.get(session, "INC-2026-001", None)
    assert pm.summary == "My words"
    history = [r.document["summary"] for r in revisions.history(session, pm)]
    assert "Their words" in history and "My words" in history


def test_autosave_answers_in_json(client, author, make_postmortem):
    make_postmortem(ref="INC-2026-001", status="draft")
    data = form_of(client, "INC-2026-001")
    headers = {"Accept": "application/json"}
    data["summary"] = "The on-call engineer should have noticed."
    ok = client.post("/postmortems/INC-2026-001/autosave", data=data, headers=headers)
    assert ok.status_code == 200 and ok.json["version"] == 2
    assert ok.json["hints"][0]["rule"] == "should-have"
    same = client.post("/postmortems/INC-2026-001/autosave", data=data, headers=headers)
    assert same.status_code == 200 and same.json["saved"] is False  # same words: no conflict
    data["summary"] = "Different words on top of version 1"
    stale = client.post("/postmortems/INC-2026-001/autosave", data=data, headers=headers)
    assert stale.status_code == 409 and stale.json["current_version"] == 2
    data.update(version="2", severity="SEV9")
    bad = client.post("/postmortems/INC-2026-001/autosave", data=data, headers=headers)
    # A value that cannot be stored is refused alone: the summary typed with it is saved.
    assert bad.status_code == 200 and bad.json["saved"] is True
    assert bad.json["refused"][0]["field"] == "severity"
    assert bad.json["refused"][0]["input"] == "severity"


def test_autosaves_fold_into_one_revision(client, author, make_postmortem, session):
    make_postmortem(ref="INC-2026-001", status="draft")
    data = form_of(client, "INC-2026-001")
    for n in range(3):
        data.update(summary=f"Draft {n}", version=str(1 + n))
        response = client.post(
            "/postmortems/INC-2026-001/autosave", data=data, headers={"Accept": "application/json"}
        )
        assert response.status_code == 200
    revisions = session.exec(select(Revision).order_by(Revision.number)).all()
    assert [r.note for r in revisions] == ["created", "autosave"]
    assert revisions[-1].document["summary"] == "Draft 2"


def test_review_workflow(client, make_user, login, make_postmortem, session):
    author = make_user("author@x.example", role="author")
    make_user("reviewer@x.example", role="author")
    make_postmortem(
        ref="INC-2026-001", status="draft", authors=["author@x.example"], published_at=None
    )
    login(author)
    token = _token(client)

    def act(action, **extra):
        return client.post(
            "/postmortems/INC-2026-001/transition",
            data={"action": action, "csrf_token": token, **extra},
        )

    act("request-review")
    assert "Name at least one reviewer" in client.get("/postmortems/INC-2026-001").get_data(True)
    act("request-review", reviewers="author@x.example")
    assert "cannot review it" in client.get("/postmortems/INC-2026-001").get_data(True)
    act("request-review", reviewers="reviewer@x.example")
    session.expire_all()
    assert postmortems.get(session, "INC-2026-001", None).status == "in-review"
    act("approve")
    assert "do not review their own" in client.get("/postmortems/INC-2026-001").get_data(True)

    login(session.exec(select(User).where(User.email == "reviewer@x.example")).one())
    token = _token(client)
    page = client.get("/postmortems/INC-2026-001").get_data(as_text=True)
    assert "Approve and publish" in page
    act("request-changes")
    assert "a comment is required" in client.get("/postmortems/INC-2026-001").get_data(True)
    act("approve", comment="Clear and blameless.")
    session.expire_all()
    pm = postmortems.get(session, "INC-2026-001", None)
    assert pm.status == "published" and pm.published_at is not None
    notes = [r.note for r in revisions.history(session, pm)]
    assert notes[0] == "approve: Clear and blameless."


def test_revisions_compare_and_restore(client, author, make_postmortem, session):
    make_postmortem(ref="INC-2026-001", status="draft", summary="First words")
    data = form_of(client, "INC-2026-001")
    data["summary"] = "Second words"
    client.post("/postmortems/INC-2026-001/edit", data=data)
    page = client.get("/postmortems/INC-2026-001/revisions/compare?a=1&b=2").get_data(True)
    assert "<del>First</del>" in page and "<ins>Second</ins>" in page
    assert client.get("/postmortems/INC-2026-001/revisions/compare?a=1&b=9").status_code == 302
    client.post(
        "/postmortems/INC-2026-001/revisions/1/restore",
        data={"csrf_token": _token(client), "version": "2"},
    )
    session.expire_all()
    pm = postmortems.get(session, "INC-2026-001", None)
    assert pm.summary == "First words" and pm.version == 3
    assert revisions.history(session, pm)[0].note == "restored revision 1"


def test_markdown_preview_is_sanitised(client, author):
    response = client.post(
        "/postmortems/preview",
        data={"text": "**b** <script>x</script>", "csrf_token": _token(client)},
    )
    assert response.json["html"].startswith("<p><strong>b</strong>")
    assert "<script" not in response.json["html"]
