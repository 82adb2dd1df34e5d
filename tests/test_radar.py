"""The risk radar: what past incidents of a change's services say, through the API and the
page, and only what the reader may see (kb/insights/radar/, kb/web/radar.py)."""

import json
from datetime import date

import pytest

from kb import accounts
from kb.insights import radar, themes

MARKER = "Wombatvault"
PUSH = "The configuration push reached every region at once."


@pytest.fixture
def world(make_postmortem, make_user, session):
    """Past incidents of checkout-api and payments-gateway (X and Y), some restricted, a
    game day, a draft and a planned change: a draft incident for X and Y, a config change."""
    make_user("reader@x.example", teams=["storefront"])
    make_user("member@x.example", teams=["security"])
    make_user("named@x.example")
    make_user("admin@x.example", role="admin")
    make_postmortem(
        ref="INC-2026-001",
        title="Checkout errors after a configuration push",
        services=["checkout-api"],
        contributing_factors=[{"text": PUSH, "category": "change-management"}],
    )
    make_postmortem(
        ref="INC-2026-002",
        title="Payments timed out after a deploy",
        services=["payments-gateway"],
        trigger="deploy",
        summary="Payments timed out after a deploy changed the connection pool.",
        contributing_factors=[
            {"text": "The configuration push reached every region at the same time."}
        ],
        action_items=[{"title": "Canary the pool settings", "owner": "payments"}],
    )
    make_postmortem(
        ref="NM-2026-003",
        title="A configuration push almost broke checkout",
        kind="near-miss",
        services=["checkout-api", "payments-gateway"],
        contributing_factors=[{"text": "A configuration push went to every region at once."}],
        action_items=[{"title": "Review pushes", "owner": "platform", "due": "2099-01-01"}],
    )
    make_postmortem(
        ref="INC-2026-004",
        title="Search index went stale",
        services=["catalog-search"],
        trigger="data",
        summary="The catalog index stopped updating.",
        contributing_factors=[{"text": "The indexer queue filled up."}],
    )
    make_postmortem(
        ref="GD-2026-005",
        title="Game day: checkout configuration push",
        kind="game-day",
        services=["checkout-api"],
        contributing_factors=[{"text": PUSH}],
    )
    make_postmortem(  # restricted to a team
        ref="SEC-2026-006",
        title=f"{MARKER} configuration push leaked keys",
        visibility="restricted",
        teams=["security"],
        services=["checkout-api", f"{MARKER.lower()}-api"],
        summary=f"The {MARKER} configuration push.",
        contributing_factors=[
            {"text": f"The configuration push of {MARKER} reached every region."}
        ],
        action_items=[{"title": f"Rotate {MARKER} keys", "owner": "security", "due": "2026-01-01"}],
    )
    make_postmortem(  # restricted, readable by a named reader
        ref="SEC-2026-007",
        title=f"{MARKER} payments configuration push",
        visibility="restricted",
        teams=["vault"],
        readers=["named@x.example"],
        services=["payments-gateway"],
        contributing_factors=[{"text": f"{MARKER} configuration push reached every region."}],
        action_items=[{"title": f"Fence {MARKER}", "owner": "vault"}],
    )
    make_postmortem(  # not published: never a past incident
        ref="INC-2026-008",
        title=f"{MARKER} draft about a configuration push",
        status="in-review",
        published_at=None,
        services=["checkout-api"],
        contributing_factors=[{"text": f"{MARKER} configuration push reached every region."}],
    )
    planned = make_postmortem(
        ref="PLAN-2026-009",
        title="Move checkout and payments to the new configuration service",
        status="draft",
        published_at=None,
        authors=["reader@x.example", "member@x.example", "named@x.example"],
        services=["checkout-api", "payments-gateway"],
        summary="A configuration push to every region, one region at a time.",
        contributing_factors=[],
        action_items=[],
    )
    themes.rebuild(session)
    session.commit()
    return planned


def _token(session, email):
    _row, token = accounts.create_token(session, email, "radar")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


# (email, the restricted refs they may read)
PEOPLE = {
    "reader": ("reader@x.example", set()),
    "member": ("member@x.example", {"SEC-2026-006"}),
    "named": ("named@x.example", {"SEC-2026-007"}),
    "admin": ("admin@x.example", {"SEC-2026-006", "SEC-2026-007"}),
}
VISIBLE_PAST = {"INC-2026-001", "INC-2026-002", "NM-2026-003"}  # of X and Y, to everyone


@pytest.mark.parametrize("person", sorted(PEOPLE))
def test_a_planned_config_change_gets_the_visible_past_incidents_and_their_themes(
    world, session, client, person
):
    email, readable = PEOPLE[person]
    response = client.get("/api/v1/postmortems/PLAN-2026-009/radar", headers=_token(session, email))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.json
    text = response.get_data(as_text=True)
    past = VISIBLE_PAST | readable
    assert body["ref"] == "PLAN-2026-009"
    assert body["services"] == ["checkout-api", "payments-gateway"]
    assert body["trigger"] == "config-change"
    # Every past incident and near miss of X and Y the person may read, counted and listed.
    assert body["incidents"] == len(past)
    similar = {s["ref"] for s in body["similar"]}
    assert past <= similar
    assert not similar & {"INC-2026-008", "GD-2026-005", "PLAN-2026-009"}
    for item in body["similar"]:
        assert item["source"] == f"{item['ref']}: {item['title']}"
    # The share of those incidents that followed a config change: over what they may read.
    share = body["change_share"]
    config = {r for r in past if r != "INC-2026-002"}
    assert (share["matching"], share["total"]) == (len(config), len(past))
    assert share["share"] == pytest.approx(len(config) / len(past), abs=1e-4)
    assert share["by_trigger"] == {"config-change": len(config), "deploy": 1}
    assert f"{len(config)} of {len(past)} past incidents" in share["source"]
    # The theme of the configuration pushes, counted over the incidents they may read.
    assert body["themes"], body
    top = body["themes"][0]
    assert 2 <= top["count"] <= len(past)
    assert top["latest"]["ref"] in past
    assert top["source"].startswith(f"Theme: {top['label']} ({top['count']} past incidents")
    assert all(t["count"] <= len(past) for t in body["themes"])
    # Open action items of those incidents, overdue first.
    items = body["open_actions"]["items"]
    refs = [a["ref"] for a in items]
    assert set(refs) <= past and "NM-2026-003" in refs
    assert [a["overdue"] for a in items] == sorted((a["overdue"] for a in items), reverse=True)
    assert body["open_actions"]["total"] == len(items)
    # Never a trace of what they may not read: refs, titles, labels, counts.
    for ref in {"SEC-2026-006", "SEC-2026-007", "INC-2026-008"} - readable:
        assert ref not in text
    if not readable:
        assert MARKER.lower() not in text.lower()
    else:
        assert MARKER.lower() in text.lower()


def test_counts_never_include_what_the_reader_may_not_read(world, session):
    reader = accounts.get_user(session, "reader@x.example")
    member = accounts.get_user(session, "member@x.example")
    admin = accounts.get_user(session, "admin@x.example")
    args = (["checkout-api"], "config-change", PUSH)
    seen = {u.email: radar.radar(session, u, *args) for u in (reader, member, admin)}
    # checkout-api: INC-2026-001 and NM-2026-003 for everyone, SEC-2026-006 for the team.
    assert [seen[e].incidents for e in sorted(seen)] == [3, 3, 2]
    assert seen["reader@x.example"].change_share.total == 2
    assert seen["reader@x.example"].change_share.overall_total == 4  # every service
    assert seen["member@x.example"].change_share.overall_total == 5
    by_id = {email: {t.id: t.count for t in found.themes} for email, found in seen.items()}
    for theme_id, count in by_id["reader@x.example"].items():
        assert count <= by_id["member@x.example"].get(theme_id, 0)
    assert sum(by_id["reader@x.example"].values()) < sum(by_id["member@x.example"].values())
    assert seen["reader@x.example"].open_total == 2  # INC-001's and NM-003's
    assert seen["member@x.example"].open_total == 3
    assert seen["member@x.example"].overdue_total == 2  # SEC-006's and INC-001's


def test_open_actions_come_overdue_first_and_each_entry_quotes_its_source(world, session):
    admin = accounts.get_user(session, "admin@x.example")
    found = radar.radar(
        session,
        admin,
        ["checkout-api", "payments-gateway"],
        "deploy",
        "",
        today=date(2026, 6, 1),
    )
    titles = [(a.title, a.overdue) for a in found.open_actions]
    assert titles[:2] == [(f"Rotate {MARKER} keys", True), ("Stage configuration pushes", True)]
    assert ("Review pushes", False) in titles
    assert titles[-1][0] in ("Canary the pool settings", f"Fence {MARKER}")  # no due date
    first = found.open_actions[0]
    assert (
        first.source
        == f"Open action: Rotate {MARKER} keys (SEC-2026-006, overdue since 2026-01-01)"
    )
    assert first.services == ["checkout-api"]
    assert found.change_share.trigger == "deploy"
    assert found.change_share.matching == 1
    assert "followed a deploy" in found.change_share.source
    assert found.similar == [] or all(s.kind in radar.PAST_KINDS for s in found.similar)


def test_the_post_endpoint_takes_a_change_not_saved_yet(world, session, client):
    headers = _token(session, "reader@x.example")
    body = {
        "services": ["Checkout API", "payments-gateway"],
        "trigger": "config-change",
        "text": "Move checkout to the new configuration service: a configuration push.",
    }
    response = client.post("/api/v1/radar", json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    found = response.json
    assert found["ref"] is None
    assert found["services"] == ["checkout-api", "payments-gateway"]  # as documents write them
    assert found["incidents"] == 3
    assert {s["ref"] for s in found["similar"]} >= VISIBLE_PAST
    assert MARKER.lower() not in response.get_data(as_text=True).lower()
    # The postmortem being written is left out when named.
    response = client.post("/api/v1/radar", json={**body, "ref": "INC-2026-001"}, headers=headers)
    assert response.json["incidents"] == 2 and response.json["ref"] == "INC-2026-001"
    assert "INC-2026-001" not in {s["ref"] for s in response.json["similar"]}
    # An empty change is answered, with nothing in it.
    empty = client.post("/api/v1/radar", json={}, headers=headers).json
    assert (empty["incidents"], empty["similar"], empty["themes"]) == (0, [], [])
    assert empty["trigger"] == "unknown"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ({"services": "checkout-api"}, "services"),
        ({"services": [1]}, "services"),
        ({"services": ["checkout api!"]}, "services"),
        ({"services": [f"s{i}" for i in range(31)]}, "services"),
        ({"trigger": "meteor"}, "trigger"),
        ({"trigger": 3}, "trigger"),
        ({"text": ["a"]}, "text"),
        ({"text": "x" * (radar.MAX_TEXT + 1)}, "text"),
        ({"ref": 12}, "ref"),
    ],
)
def test_bad_input_is_a_clear_400(world, session, client, body, field):
    response = client.post("/api/v1/radar", json=body, headers=_token(session, "reader@x.example"))
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["status"] == 400 and error["errors"][0]["field"] == field
    assert error["message"].startswith(f"{field}: ")


def test_a_postmortem_the_reader_may_not_read_is_not_found(world, session, client):
    headers = _token(session, "reader@x.example")
    for ref in ("SEC-2026-006", "INC-2026-008", "NOPE-1"):
        response = client.get(f"/api/v1/postmortems/{ref}/radar", headers=headers)
        assert response.status_code == 404, ref
        response = client.post("/api/v1/radar", json={"ref": ref}, headers=headers)
        assert response.status_code == 404, ref
        assert MARKER not in response.get_data(as_text=True)
    assert client.get("/api/v1/postmortems/INC-2026-001/radar").status_code == 401


def test_the_page_shows_the_radar_and_asks_again(world, session, client, login, csrf_token):
    login(accounts.get_user(session, "reader@x.example"))
    page = client.get("/postmortems/PLAN-2026-009/radar")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="radar"' in html and 'data-radar-ref="PLAN-2026-009"' in html
    for ref in VISIBLE_PAST:
        assert ref in html
    assert MARKER not in html and "SEC-2026-00" not in html
    assert "followed a config change" in html
    assert "Add as risk" not in html  # there is no pre-mortem form here to add to
    # The reading page links to it.
    assert "/postmortems/PLAN-2026-009/radar" in client.get("/postmortems/PLAN-2026-009").get_data(
        as_text=True
    )
    # Asked again for other services and another kind of change, without script.
    token = csrf_token()
    again = client.post(
        "/postmortems/PLAN-2026-009/radar",
        data={
            "services": "catalog-search",
            "trigger": "data",
            "text": "indexer queue " * 1000,  # longer than any address may be
            "csrf_token": token,
        },
    ).get_data(as_text=True)
    assert "INC-2026-004" in again and "followed a data" in again
    bad = client.post(
        "/postmortems/PLAN-2026-009/radar", data={"trigger": "meteor", "csrf_token": token}
    )
    assert bad.status_code == 400 and "trigger: must be one of" in bad.get_data(as_text=True)
    assert client.post("/postmortems/PLAN-2026-009/radar", data={}).status_code == 400  # CSRF
    assert client.get("/postmortems/SEC-2026-006/radar").status_code == 404
    # Reading a restricted postmortem's radar page is audited, as its own page is.
    login(accounts.get_user(session, "member@x.example"))
    assert client.get("/postmortems/SEC-2026-006/radar").status_code == 200
    events = client.application.test_cli_runner().invoke(
        args=["audit", "--action", "view-restricted"]
    )
    assert "member@x.example" in events.output and "SEC-2026-006" in events.output


def test_the_panel_in_a_form_offers_each_entry_as_a_risk(world, session, app):
    from flask import render_template

    admin = accounts.get_user(session, "admin@x.example")
    found = radar.radar(session, admin, ["checkout-api"], "config-change", PUSH)
    with app.test_request_context("/"):
        html = render_template(
            "_radar.html", radar=found, radar_ref=None, radar_form="editor", radar_add=True
        )
    buttons = html.count('name="add_risk"')
    entries = len(found.themes) + len(found.similar) + len(found.open_actions) + 1
    assert buttons == entries and 'form="editor"' in html and "formnovalidate" in html
    share = found.change_share
    assert f'value="{share.source}&#9;{share.risk}"' in html.replace("&#39;", "'")


def test_the_openapi_document_describes_both_endpoints(client):
    spec = json.loads(client.get("/api/v1/openapi.json").get_data(as_text=True))
    assert "get" in spec["paths"]["/api/v1/postmortems/{ref}/radar"]
    assert "post" in spec["paths"]["/api/v1/radar"]
    assert "Radar" in spec["components"]["schemas"]
