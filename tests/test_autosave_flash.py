"""Autosave never leaves a message for a later page, however the browser posts it.

`navigator.sendBeacon` (the editor's last save when the page is left) cannot ask for JSON:
it posts the form as multipart data with `Accept: */*`. Such a post must still be answered
as an autosave (JSON, no flashed "Saved."), or the message turns up on whatever page the
person opens next.
"""

import pytest

from tests.test_editor import form_of

REF = "INC-2026-001"
BEACON = {"Accept": "*/*"}  # what sendBeacon sends; it cannot set headers
MESSAGES = ("Saved.", "No changes to save.")


@pytest.fixture
def author(make_user, login):
    user = make_user("author@x.example", role="author", teams=["payments"])
    login(user)
    return user


def _flashes(client):
    """The flash messages the next page shows (and so consumes)."""
    page = client.get(f"/postmortems/{REF}").get_data(as_text=True)
    return [m for m in MESSAGES if f">{m}</div>" in page]


def test_a_beacon_autosave_stores_no_message(client, author, make_postmortem, session):
    make_postmortem(ref=REF, status="draft")
    data = form_of(client, REF)
    data["summary"] = "Written just before the tab was closed."
    response = client.post(f"/postmortems/{REF}/autosave", data=data, headers=BEACON)
    assert response.status_code == 200
    assert response.is_json and response.json["saved"] is True and response.json["version"] == 2
    assert _flashes(client) == []
    session.expire_all()
    from kb import postmortems

    assert postmortems.get(session, REF, None).summary == data["summary"]


def test_an_unchanged_beacon_autosave_stores_no_message(client, author, make_postmortem):
    make_postmortem(ref=REF, status="draft")
    data = form_of(client, REF)
    response = client.post(f"/postmortems/{REF}/autosave", data=data, headers=BEACON)
    assert response.status_code == 200 and response.json["saved"] is False
    assert _flashes(client) == []


def test_a_stale_or_invalid_beacon_autosave_answers_in_json(client, author, make_postmortem):
    make_postmortem(ref=REF, status="draft")
    data = form_of(client, REF)
    data["summary"] = "First words"
    assert client.post(f"/postmortems/{REF}/autosave", data=data, headers=BEACON).json
    data["summary"] = "Other words on top of version 1"
    stale = client.post(f"/postmortems/{REF}/autosave", data=data, headers=BEACON)
    assert stale.status_code == 409 and stale.json["current_version"] == 2
    data.update(version="2", severity="SEV9")
    bad = client.post(f"/postmortems/{REF}/autosave", data=data, headers=BEACON)
    # A draft saves what it can: the refused value is named in the JSON answer, not flashed.
    assert bad.status_code == 200 and bad.json["refused"][0]["field"] == "severity"
    del data["version"]
    missing = client.post(f"/postmortems/{REF}/autosave", data=data, headers=BEACON)
    assert missing.status_code == 400 and missing.is_json
    assert _flashes(client) == []


def test_the_editor_form_still_says_saved(client, author, make_postmortem):
    """The plain form post (no script) keeps its message: only autosave is silent."""
    make_postmortem(ref=REF, status="draft")
    data = form_of(client, REF)
    data.update(summary="Saved by the button", then="view")
    response = client.post(f"/postmortems/{REF}/edit", data=data)
    assert response.status_code == 302
    assert _flashes(client) == ["Saved."]


def test_a_beacon_after_the_session_ended_stores_no_message(
    client, make_user, login, make_postmortem
):
    make_postmortem(ref=REF, status="draft")
    login(make_user("author@x.example", role="author", teams=["payments"]))
    data = form_of(client, REF)
    with client.session_transaction() as s:
        s.pop("_user_id")  # the sign-in expired while the tab was open (the form's token holds)
    data["summary"] = "Typed after the session ended."
    response = client.post(f"/postmortems/{REF}/autosave", data=data, headers=BEACON)
    assert response.status_code == 401 and response.is_json
    page = client.get("/sign-in").get_data(as_text=True)
    assert "Please sign in to see this page." not in page
