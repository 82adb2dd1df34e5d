"""One number for a postmortem's version: the editor, the page, History and the API agree."""

import re

import pytest

from kb import accounts, editing, postmortems, revisions
from tests.test_editor import form_of

JSON = {"Accept": "application/json"}


@pytest.fixture
def author(make_user, login):
    user = make_user("author@x.example", role="author", teams=["payments"])
    login(user)
    return user


def shown_versions(client, ref, headers):
    """The version as each place shows it."""
    editor = client.get(f"/postmortems/{ref}/edit").get_data(as_text=True)
    page = client.get(f"/postmortems/{ref}").get_data(as_text=True)
    history = client.get(f"/postmortems/{ref}/revisions").get_data(as_text=True)
    api = client.get(f"/api/v1/postmortems/{ref}", headers=headers).json
    revisions = client.get(f"/api/v1/postmortems/{ref}/revisions", headers=headers).json
    return {
        "editor": int(re.search(r"All changes saved \(version (\d+)\)", editor).group(1)),
        "editor form": int(re.search(r'name="version" value="(\d+)"', editor).group(1)),
        "page": int(re.search(r"<dt>Version</dt><dd>(?:<a[^>]*>)?(\d+)", page).group(1)),
        "history": int(re.search(r"<td[^>]*>#(\d+)", history).group(1)),
        "api": api["version"],
        "api revisions": revisions["items"][0]["number"],
    }


def test_the_version_shown_everywhere_agrees_after_autosaves_and_saves(
    client, author, make_postmortem, session
):
    make_postmortem(ref="INC-2026-001", status="draft", published_at=None, authors=[author.email])
    _row, token = accounts.create_token(session, author.email, "test")
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    data = form_of(client, "INC-2026-001")

    def autosave(words):
        data["summary"] = words
        answer = client.post("/postmortems/INC-2026-001/autosave", data=data, headers=JSON)
        assert answer.status_code == 200, answer.json
        data["version"] = str(answer.json["version"])
        return answer.json["version"]

    for n in range(3):
        autosave(f"Typing, pause {n}")
    assert set(shown_versions(client, "INC-2026-001", headers).values()) == {4}

    data["impact"] = "Saved with the button."
    data["then"] = "edit"
    assert client.post("/postmortems/INC-2026-001/edit", data=data).status_code == 302
    data["version"] = "5"
    del data["then"]
    autosave("Typing again")
    last = autosave("Typing again, more")
    versions = shown_versions(client, "INC-2026-001", headers)
    assert set(versions.values()) == {last} == {7}, versions

    # History reads as edits people made: the autosaves of one session are one revision,
    # with the versions and the time span it covers.
    history = client.get("/postmortems/INC-2026-001/revisions").get_data(as_text=True)
    numbers = re.findall(r"<td[^>]*>#(\d+)", history)
    assert numbers == ["7", "5", "4", "1"]
    assert "(versions 6–7)" in history and "(versions 2–4)" in history
    session.expire_all()
    pm = postmortems.get(session, "INC-2026-001", None)
    folded = revisions.get(session, pm, 7)
    assert folded.started_at is not None and folded.started_at <= folded.created_at
    assert folded.document["summary"] == "Typing again, more"
    assert revisions.get(session, pm, 5).document["impact"] == "Saved with the button."


def test_every_revision_number_is_the_version_it_holds(client, author, make_postmortem, session):
    pm = make_postmortem(
        ref="INC-2026-002", status="draft", published_at=None, authors=[author.email]
    )
    for n in range(3):
        pm, _changed = editing.update(
            session,
            pm,
            {**_document(pm), "summary": f"Saved {n}"},
            author,
            base_version=pm.version,
            note="edited",
        )
        session.commit()
        assert revisions.history(session, pm)[0].number == pm.version
        assert revisions.history(session, pm)[0].document["summary"] == f"Saved {n}"


def _document(pm):
    from kb.document import to_document

    return to_document(pm)
