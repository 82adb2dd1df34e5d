"""KB_UNPUBLISHED_READERS through the visibility matrix: who may read a postmortem that is not
yet published, on every read path, under both settings.

An internal postmortem in review carries the matrix's marker in every field (see
tests/test_visibility.py). With `everyone`, every reader finds it where unpublished
postmortems are shown; with `involved` (the default), only its authors, its reviewers,
members of its teams and admins do. Paths that show published postmortems only (themes,
similar incidents, figures, the digest) never show it, to anyone, under either setting.
"""

import json

import pytest
from sqlmodel import select

from kb import accounts
from kb.models import Postmortem, ReviewRequest
from tests.test_visibility import LOWER, MARKER, READ_PATHS, _search

# Read paths that show unpublished postmortems to those who may read them.
SHOWS_UNPUBLISHED = {
    "actions",
    "editor",
    "history",
    "api-revision",
    "list",
    "detail",
    "api-list",
    "api-detail",
    "export",
    "search",
    "search-did-you-mean",
    "search-exact",
    "search-api",
}


def _similar_to_published(client, token, _tmp_path, runner, _email):
    # The matrix's path also asks about INC-2026-002 itself, which names it (and is refused
    # to those who may not read it): here only what is similar to the published one counts.
    from tests.test_visibility import _bearer, _themes_rebuilt

    _themes_rebuilt(runner)
    response = client.get("/api/v1/postmortems/INC-2026-001/similar", headers=_bearer(token))
    return response.get_data(as_text=True)


PUBLISHED_ONLY_PATHS = {
    **{name: READ_PATHS[name] for name in set(READ_PATHS) - SHOWS_UNPUBLISHED},
    "similar-api": _similar_to_published,
}


def _in_review_list(client, _token, _tmp_path, _runner, _email):
    return client.get("/?status=in-review").get_data(as_text=True)


def _api_list_in_review(client, token, _tmp_path, _runner, _email):
    response = client.get(
        "/api/v1/postmortems?status=in-review", headers={"Authorization": f"Bearer {token}"}
    )
    return response.get_data(as_text=True)


PATHS = {
    **{name: READ_PATHS[name] for name in SHOWS_UNPUBLISHED},
    "list-in-review": _in_review_list,
    "api-list-in-review": _api_list_in_review,
}

# (email, role, teams, involved in the postmortem in review)
PEOPLE = {
    "reader-other-team": ("reader@x.example", "reader", ["storefront"], False),
    "author-other-team": ("author@x.example", "author", ["platform"], False),
    "named-reader": ("named@x.example", "reader", [], False),
    "reader-in-team": ("member@x.example", "reader", ["security"], True),
    "named-author": ("writer@x.example", "author", [], True),
    "reviewer": ("reviewer@x.example", "author", [], True),
    "admin": ("admin@x.example", "admin", [], True),
}


@pytest.fixture
def world(make_postmortem, make_user, session):
    make_postmortem(ref="INC-2026-001", title="An ordinary internal incident")
    make_postmortem(
        ref="INC-2026-002",
        title=f"Credential leak {MARKER}",
        status="in-review",
        published_at=None,
        teams=["security", f"{LOWER}-team"],
        services=["checkout-api", f"{LOWER}-api"],
        tags=[f"{LOWER}-tag"],
        authors=["writer@x.example"],
        readers=["named@x.example"],
        summary=f"The {MARKER} summary.",
        lessons=f"Lesson about {MARKER}.",
        timeline=[{"at": "2026-03-02T09:20:00Z", "text": "Paged.", "source": f"{MARKER} pager"}],
        contributing_factors=[{"text": f"A factor naming {MARKER}."}],
        action_items=[{"title": f"Rotate {MARKER} keys", "owner": f"{MARKER} on-call"}],
        links=[{"title": f"{MARKER} runbook", "url": f"https://wiki.example/{LOWER}"}],
    )
    return session


def _as(world, app, login, make_user, person, setting):
    app.config["UNPUBLISHED_READERS"] = setting
    email, role, teams, involved = PEOPLE[person]
    user = make_user(email, role=role, teams=teams)
    if person == "reviewer":
        pm = world.exec(select(Postmortem).where(Postmortem.ref == "INC-2026-002")).one()
        world.add(ReviewRequest(postmortem_id=pm.id, reviewer_id=user.id))
    _row, token = accounts.create_token(world, email, "matrix")
    world.commit()
    login(user)
    return email, role, token, involved


@pytest.mark.parametrize("setting", ["everyone", "involved"])
@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("person", sorted(PEOPLE))
def test_unpublished_postmortems_reach_readers_as_the_setting_says(
    world, app, client, login, make_user, runner, tmp_path, path, person, setting
):
    email, role, token, involved = _as(world, app, login, make_user, person, setting)

    text = PATHS[path](client, token, tmp_path, runner, email)

    allowed = setting == "everyone" or involved
    if path == "editor" and role == "reader":
        allowed = False  # readers may not write
    if allowed:
        assert LOWER in text.lower()
    else:
        assert LOWER not in text.lower()
        assert "INC-2026-002" not in text
    if path == "list":
        assert ("2 postmortems" if allowed else "1 postmortem,") in text
    if path == "api-list":
        assert json.loads(text)["total"] == (2 if allowed else 1)


@pytest.mark.parametrize("path", sorted(PUBLISHED_ONLY_PATHS))
@pytest.mark.parametrize("person", ["reader-other-team", "reader-in-team", "admin"])
def test_lists_of_published_postmortems_never_show_an_unpublished_one(
    world, app, client, login, make_user, runner, tmp_path, path, person
):
    # `everyone` is the wider setting: what it keeps out, `involved` keeps out too.
    email, _role, token, _involved = _as(world, app, login, make_user, person, "everyone")
    text = PUBLISHED_ONLY_PATHS[path](client, token, tmp_path, runner, email)
    assert LOWER not in text.lower() and "INC-2026-002" not in text


def test_the_reviewers_inbox_holds_what_they_were_asked_to_review(
    world, app, client, login, make_user
):
    _email, _role, _token, _involved = _as(world, app, login, make_user, "reviewer", "involved")
    page = client.get("/").get_data(as_text=True)
    assert "INC-2026-002" in page and client.get("/postmortems/INC-2026-002").status_code == 200


def test_an_author_sees_the_draft_they_started_without_being_listed(
    world, app, client, login, make_user
):
    _email, _role, token, _involved = _as(
        world, app, login, make_user, "author-other-team", "involved"
    )
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post("/api/v1/postmortems", json={"title": "Started by me"}, headers=headers)
    assert created.status_code == 201
    ref = created.json["ref"]
    assert client.get(f"/api/v1/postmortems/{ref}", headers=headers).status_code == 200
    # Another author outside it does not.
    other = make_user("other@x.example", role="author")
    _row, other_token = accounts.create_token(world, other.email, "matrix")
    world.commit()
    response = client.get(
        f"/api/v1/postmortems/{ref}", headers={"Authorization": f"Bearer {other_token}"}
    )
    assert response.status_code == 404


def test_a_restricted_draft_stays_restricted_when_everyone_reads_drafts(
    world, app, client, login, make_user, make_postmortem
):
    make_postmortem(
        ref="INC-2026-003",
        title="Zanzibarquill restricted draft",
        status="draft",
        published_at=None,
        visibility="restricted",
        teams=["security"],
        authors=["writer@x.example"],
    )
    _email, _role, token, _involved = _as(
        world, app, login, make_user, "reader-other-team", "everyone"
    )
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/", "/postmortems/INC-2026-003"):
        assert "zanzibarquill" not in client.get(path).get_data(as_text=True).lower(), path
    assert "zanzibarquill" not in _search(client, "zanzibarquill").lower()
    assert "zanzibarquill" not in _search(client, "zanzibarquill", token).lower()
    assert client.get("/api/v1/postmortems/INC-2026-003", headers=headers).status_code == 404


def test_a_reviewer_can_be_asked_though_not_yet_involved(world, app, make_user):
    from kb import workflow

    app.config["UNPUBLISHED_READERS"] = "involved"
    writer = make_user("writer@x.example", role="author")
    reviewer = make_user("outsider@x.example", role="author", teams=["platform"])
    pm = world.exec(select(Postmortem).where(Postmortem.ref == "INC-2026-002")).one()
    with app.app_context():
        assert not accounts.may_see(reviewer, pm)
        assert accounts.may_see(reviewer, pm, asked_to_review=True)
        pm.status = "draft"
        workflow.transition(world, pm, "request-review", writer, reviewers=[reviewer.email])
        world.flush()
        assert accounts.may_see(reviewer, pm)


def test_the_setting_is_checked_at_start(tmp_path):
    from kb import create_app

    with pytest.raises(ValueError, match="KB_UNPUBLISHED_READERS must be one of"):
        create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": str(tmp_path / "instance"),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                "SECRET_KEY": "test-secret",
                "UNPUBLISHED_READERS": "nobody",
            }
        )


@pytest.mark.parametrize("setting", ["everyone", "involved"])
def test_scores_move_for_a_draft_only_when_every_reader_may_read_it(
    world, app, client, make_user, make_postmortem, setting
):
    """Ranking statistics come from what every reader may read: an internal draft holding
    the words moves no score where only those involved may read it (`involved`), and is
    counted like any postmortem where everyone may (`everyone`)."""
    from tests.test_visibility import search_scores

    app.config["UNPUBLISHED_READERS"] = setting
    make_postmortem(ref="INC-2026-003", title="Disk pressure on the cache", summary="Disk full.")
    make_postmortem(ref="INC-2026-004", title="Queue backlog", summary="A slow disk, a queue.")
    make_user("reader@x.example", teams=["storefront"])
    _row, token = accounts.create_token(world, "reader@x.example", "matrix")
    world.commit()
    before = search_scores(client, token, "disk")
    make_postmortem(
        ref="INC-2026-005",
        title="Disk queue disk queue",
        status="draft",
        published_at=None,
        teams=["security"],
        summary="disk queue " * 40,
    )
    after = search_scores(client, token, "disk")
    if setting == "involved":
        assert after == before
    else:
        assert "INC-2026-005" in after
        assert after["INC-2026-003"] != before["INC-2026-003"]


def test_did_you_mean_never_offers_a_word_of_a_draft_the_reader_may_not_read(
    world, app, client, login, make_user, make_postmortem
):
    app.config["UNPUBLISHED_READERS"] = "involved"
    make_postmortem(
        ref="INC-2026-003",
        title="Xylocarp outage",
        status="draft",
        published_at=None,
        teams=["security"],
        summary="The xylocarp pool fell over.",
    )
    login(make_user("reader@x.example", teams=["storefront"]))
    assert "xylocarp" not in _search(client, "xylocarq").lower()
    login(make_user("member@x.example", teams=["security"]))
    assert "xylocarp" in _search(client, "xylocarq").lower()
