"""Action-item owners as people and teams: the same person or team written several ways is
stored one way (through the API, `kb import` and the editor alike), shown by name, grouped
once in the /actions owner filter, and suggested from users and teams; suggestions and the
team filter never name a team seen only on a postmortem the reader may not see."""

import json
import re

import pytest
from sqlmodel import select

from kb import accounts
from kb.models import ActionItem, Postmortem
from tests.conftest import document
from tests.test_editor import form_of

DANA = "author@x.example"
SPELLINGS = ["Dana", "DANA WHITFIELD", "Author@X.example", " dana  whitfield "]
TEAMS = ["platform team", "Platform", "platform"]


@pytest.fixture
def people(make_user, session):
    dana = make_user(DANA, role="author", teams=["payments"])
    dana.name = "Dana Whitfield"
    ines = make_user("ines@x.example", role="author", teams=["platform"])
    ines.name = "Ines Okonkwo"
    sam1 = make_user("sam.one@x.example", role="author")
    sam1.name = "Sam One"
    sam2 = make_user("sam.two@x.example", role="author")
    sam2.name = "Sam Two"
    session.commit()
    return {"dana": dana, "ines": ines}


def _actions(owners):
    return [
        {"title": f"Action {i} for {owner.strip()}", "owner": owner, "due": "2026-04-01"}
        for i, owner in enumerate(owners)
    ]


def _stored_owners(session, ref):
    session.expire_all()
    pm = session.exec(select(Postmortem).where(Postmortem.ref == ref)).one()
    return [a.owner for a in pm.action_items]


EXPECTED = [DANA] * 4 + ["platform"] * 3 + ["Sam", "Vendor support"]


def test_the_api_stores_owners_normalised(client, session, people):
    _row, token = accounts.create_token(session, DANA, "test")
    session.commit()
    doc = {"title": "Owners written every way", "action_items": _actions([*SPELLINGS, *TEAMS])}
    doc["action_items"] += _actions(["Sam", "Vendor  support"])
    response = client.post(
        "/api/v1/postmortems", json=doc, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.json
    # The answer is the stored document: what an export, and a later import, will carry.
    assert [a["owner"] for a in response.json["action_items"]] == EXPECTED
    assert _stored_owners(session, response.json["ref"]) == EXPECTED


def test_kb_import_stores_owners_the_same_way(runner, session, people, tmp_path):
    items = _actions([*SPELLINGS, *TEAMS, "Sam", "Vendor  support"])
    source = tmp_path / "owners.jsonl"
    source.write_text(json.dumps(document(ref="INC-2026-007", action_items=items)) + "\n")
    result = runner.invoke(args=["import", str(source)])
    assert result.exit_code == 0, result.output
    assert _stored_owners(session, "INC-2026-007") == EXPECTED
    # Importing the export again changes nothing: the stored form is its own normal form.
    export = tmp_path / "out"
    assert runner.invoke(args=["export", str(export)]).exit_code == 0
    again = runner.invoke(args=["import", str(export)])
    assert "0 created, 0 updated, 1 unchanged" in again.output


def test_the_editor_stores_owners_normalised(client, login, session, people, make_postmortem):
    make_postmortem(ref="INC-2026-001", status="draft", published_at=None, authors=[DANA])
    login(people["dana"])
    form = form_of(client, "INC-2026-001")
    form["action-0-owner"] = "dana whitfield"
    response = client.post("/postmortems/INC-2026-001/edit", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _stored_owners(session, "INC-2026-001") == [DANA]


def test_the_owner_filter_groups_one_person_or_team_once(
    client, login, session, people, make_postmortem
):
    make_postmortem(ref="INC-2026-001", action_items=_actions([*SPELLINGS[:2], TEAMS[0]]))
    make_postmortem(ref="INC-2026-002", action_items=_actions([SPELLINGS[2], *TEAMS[1:]]))
    # Rows written before owners were normalised keep their old spelling in the database.
    for item, old in zip(
        session.exec(select(ActionItem).order_by(ActionItem.id)).all(),
        [*SPELLINGS[:2], TEAMS[0], SPELLINGS[2], *TEAMS[1:]],
        strict=True,
    ):
        item.owner = old
    session.commit()
    login(people["ines"])
    page = client.get("/actions?view=all").get_data(as_text=True)
    select_html = page[
        page.index('<select name="owner">') : page.index(
            "</select>", page.index('<select name="owner">')
        )
    ]
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select_html)
    assert options == [("", "anyone"), (DANA, "Dana Whitfield"), ("platform", "platform")]

    def titles(owner):
        body = client.get("/actions", query_string={"view": "all", "owner": owner}).text
        return sorted(set(re.findall(r"Action \d for [^<]+", body)))

    dana = titles(DANA)
    assert len(dana) == 3 and all("latform" not in t for t in dana)
    assert titles("Dana") == dana  # any spelling finds the same items
    assert len(titles("platform")) == 3
    assert titles("platform team") == titles("platform")
    # Shown by name, whichever way it was written.
    assert client.get(f"/actions?view=all&owner={DANA}").text.count("Dana Whitfield</span>") == 3


def test_owners_show_by_name_on_the_postmortem(client, login, people, make_postmortem):
    make_postmortem(ref="INC-2026-001", action_items=_actions(["Dana"]))
    login(people["ines"])
    page = client.get("/postmortems/INC-2026-001").text
    assert f'<span title="{DANA}">Dana Whitfield</span>' in page


def test_suggestions_are_users_and_teams_within_the_visibility_rule(
    client, login, session, people, make_postmortem
):
    # Both write the draft (by default only those involved in a draft may open it).
    authors = [DANA, "ines@x.example"]
    make_postmortem(ref="INC-2026-001", status="draft", published_at=None, authors=authors)
    make_postmortem(
        ref="INC-2026-002",
        visibility="restricted",
        teams=["incident-skunkworks"],
        services=["hidden-service"],
        tags=["hidden-tag"],
        authors=["ines@x.example"],
        action_items=_actions(["incident-skunkworks"]),
    )
    login(people["dana"])
    page = client.get("/postmortems/INC-2026-001/edit").text
    owners = page[
        page.index('<datalist id="owners">') : page.index(
            "</datalist>", page.index('<datalist id="owners">')
        )
    ]
    options = re.findall(r'<option value="([^"]*)">([^<]*)</option>', owners)
    assert (DANA, f"Dana Whitfield ({DANA})") in options
    assert ("ines@x.example", "Ines Okonkwo (ines@x.example)") in options
    assert ("platform", "platform (team)") in options and ("payments", "payments (team)") in options
    # Nothing taken from a postmortem Dana may not read, in any suggestion list or filter.
    assert "incident-skunkworks" not in page
    assert "hidden-service" not in page and "hidden-tag" not in page
    assert "incident-skunkworks" not in client.get("/actions?view=all").text

    login(people["ines"])  # who may read it is offered its team
    assert "incident-skunkworks (team)" in client.get("/postmortems/INC-2026-001/edit").text
