"""Restoring asks first and shows the difference; the conflict page marks differing words."""

import re

import pytest

from kb import postmortems
from tests.test_editor import form_of


@pytest.fixture
def author(make_user, login):
    user = make_user("author@x.example", role="author", teams=["payments"])
    login(user)
    return user


@pytest.fixture
def edited(client, author, make_postmortem):
    """A draft at version 2: version 1 said "Checkout failed", version 2 "Checkout stalled"."""
    make_postmortem(
        ref="INC-2026-001",
        status="draft",
        published_at=None,
        authors=[author.email],
        summary="Checkout failed for 25 minutes.",
    )
    data = form_of(client, "INC-2026-001")
    data["summary"] = "Checkout stalled for 25 minutes."
    assert client.post("/postmortems/INC-2026-001/edit", data=data).status_code == 302
    return data


def test_history_offers_restore_as_a_link_to_the_confirmation(client, edited):
    history = client.get("/postmortems/INC-2026-001/revisions").get_data(as_text=True)
    assert 'href="/postmortems/INC-2026-001/revisions/1/restore"' in history
    assert 'action="/postmortems/INC-2026-001/revisions/1/restore"' not in history


def test_restore_shows_the_difference_and_changes_nothing_until_confirmed(client, edited, session):
    response = client.get("/postmortems/INC-2026-001/revisions/1/restore")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Restore version 1?" in page
    assert "<del>stalled</del><ins>failed</ins>" in page
    assert re.search(
        r'<button class="button primary" type="submit">Restore version 1</button>', page
    )
    form = "/postmortems/INC-2026-001/revisions/1/restore"
    assert f'<form method="post" action="{form}"' in page
    session.expire_all()
    pm = postmortems.get(session, "INC-2026-001", None)
    assert pm.version == 2 and pm.summary == "Checkout stalled for 25 minutes."

    version = re.search(r'name="version" value="(\d+)"', page.split(form)[1]).group(1)
    done = client.post(form, data={"version": version, "csrf_token": edited["csrf_token"]})
    assert done.status_code == 302
    session.expire_all()
    pm = postmortems.get(session, "INC-2026-001", None)
    assert pm.version == 3 and pm.summary == "Checkout failed for 25 minutes."


def test_restoring_a_published_postmortem_asks_for_the_amendment_note(
    client, author, make_postmortem, session
):
    make_postmortem(ref="INC-2026-002", authors=[author.email], summary="First words.")
    data = form_of(client, "INC-2026-002")
    data.update(summary="Second words.", note="reworded the summary")
    assert client.post("/postmortems/INC-2026-002/edit", data=data).status_code == 302
    page = client.get("/postmortems/INC-2026-002/revisions/1/restore").get_data(as_text=True)
    assert 'name="note"' in page and "Amendment note" in page


def test_restoring_a_revision_that_does_not_exist_explains(client, edited):
    response = client.get("/postmortems/INC-2026-001/revisions/9/restore", follow_redirects=True)
    assert "has no revision 9" in response.get_data(as_text=True)


def test_the_conflict_page_marks_the_words_that_differ(client, author, make_postmortem):
    make_postmortem(
        ref="INC-2026-003",
        status="draft",
        published_at=None,
        authors=[author.email],
        summary="The cache expired at noon and the database took the load.",
    )
    mine = form_of(client, "INC-2026-003")
    theirs = dict(mine, summary="The cache expired at noon and the replicas took the load.")
    assert client.post("/postmortems/INC-2026-003/edit", data=theirs).status_code == 302
    mine["summary"] = "The cache emptied at noon and the database took the load."
    page = client.post("/postmortems/INC-2026-003/edit", data=mine).get_data(as_text=True)
    mine_side, theirs_side = re.findall(r'<pre class="side-text">(.*?)</pre>', page, re.S)[:2]
    assert re.findall(r'<mark class="differs">(.*?)</mark>', mine_side) == ["emptied", "database"]
    assert re.findall(r'<mark class="differs">(.*?)</mark>', theirs_side) == ["expired", "replicas"]
    assert mine_side.startswith("The cache ")
