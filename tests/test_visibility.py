"""The visibility matrix: every read path, against every kind of user.

A restricted postmortem carries a unique marker word in its title, its sections, its factors
and its action items. Someone who may not see it must find no trace of it (no title, no
snippet, no count); someone who may must find it. New read paths join READ_PATHS.
"""

import json

import pytest

MARKER = "Quokkafirewall"


def _list_page(client, _token, _tmp_path, _runner, _email):
    return client.get("/").get_data(as_text=True)


def _list_page_by_status(client, _token, _tmp_path, _runner, _email):
    return client.get("/?status=published").get_data(as_text=True)


def _detail_page(client, _token, _tmp_path, _runner, _email):
    return client.get("/postmortems/INC-2026-002").get_data(as_text=True)


def _api_list(client, token, _tmp_path, _runner, _email):
    response = client.get("/api/v1/postmortems", headers={"Authorization": f"Bearer {token}"})
    return response.get_data(as_text=True)


def _api_detail(client, token, _tmp_path, _runner, _email):
    response = client.get(
        "/api/v1/postmortems/INC-2026-002", headers={"Authorization": f"Bearer {token}"}
    )
    return response.get_data(as_text=True)


def _export(client, _token, tmp_path, runner, email):
    dest = tmp_path / f"export-{email}.jsonl"
    result = runner.invoke(args=["export", "--as-user", email, str(dest)])
    assert result.exit_code == 0, result.output
    return dest.read_text() + result.output


def _actions_page(client, _token, _tmp_path, _runner, _email):
    return client.get("/actions?view=all").get_data(as_text=True)


def _history_page(client, _token, _tmp_path, _runner, _email):
    return client.get("/postmortems/INC-2026-002/revisions").get_data(as_text=True)


def _api_revision(client, token, _tmp_path, _runner, _email):
    response = client.get(
        "/api/v1/postmortems/INC-2026-002/revisions/1", headers={"Authorization": f"Bearer {token}"}
    )
    return response.get_data(as_text=True)


READ_PATHS = {
    "actions": _actions_page,
    "history": _history_page,
    "api-revision": _api_revision,
    "list": _list_page,
    "list-by-status": _list_page_by_status,
    "detail": _detail_page,
    "api-list": _api_list,
    "api-detail": _api_detail,
    "export": _export,
}

# (email, role, teams, may see the restricted postmortem)
PEOPLE = {
    "reader-other-team": ("reader@x.example", "reader", ["storefront"], False),
    "author-other-team": ("author@x.example", "author", ["platform"], False),
    "reader-in-team": ("member@x.example", "reader", ["security"], True),
    "named-reader": ("named@x.example", "reader", [], True),
    "named-author": ("writer@x.example", "author", [], True),
    "admin": ("admin@x.example", "admin", [], True),
}


@pytest.fixture
def world(make_postmortem, make_user, session):
    make_postmortem(ref="INC-2026-001", title="An ordinary internal incident")
    make_postmortem(
        ref="INC-2026-002",
        title=f"Credential leak {MARKER}",
        visibility="restricted",
        teams=["security"],
        authors=["writer@x.example"],
        readers=["named@x.example"],
        summary=f"The {MARKER} summary.",
        lessons=f"Lesson about {MARKER}.",
        contributing_factors=[{"text": f"A factor naming {MARKER}."}],
        action_items=[{"title": f"Rotate {MARKER} keys"}],
    )
    return session


@pytest.mark.parametrize("path", sorted(READ_PATHS))
@pytest.mark.parametrize("person", sorted(PEOPLE))
def test_restricted_postmortems_reach_only_those_allowed(
    world, client, login, make_user, runner, tmp_path, path, person
):
    from kb import accounts

    email, role, teams, allowed = PEOPLE[person]
    user = make_user(email, role=role, teams=teams)
    _row, token = accounts.create_token(world, email, "matrix")
    world.commit()
    login(user)

    text = READ_PATHS[path](client, token, tmp_path, runner, email)

    single = ("detail", "api-detail", "history", "api-revision")
    assert "An ordinary internal incident" in text or path in single or path == "actions"
    if allowed:
        assert MARKER in text
    else:
        assert MARKER not in text
        assert "INC-2026-002" not in text
    if path == "list":
        assert ("2 postmortems" if allowed else "1 postmortem,") in text
    if path == "api-list":
        assert json.loads(text)["total"] == (2 if allowed else 1)


def test_a_disabled_user_sees_nothing_anywhere(world, client, login, make_user, runner, tmp_path):
    from kb import accounts

    user = make_user("gone@x.example", role="admin")
    _row, token = accounts.create_token(world, user.email, "matrix")
    world.commit()
    login(user)
    accounts.set_active(world, user.email, False)
    world.commit()
    for name, read in READ_PATHS.items():
        if name == "export":
            continue  # the CLI is an operator's tool; export --as-user is tested above
        text = read(client, token, tmp_path, runner, user.email)
        assert MARKER not in text and "ordinary internal" not in text, name


def test_viewing_a_restricted_postmortem_is_audited(world, client, login, make_user, runner):
    login(make_user("member@x.example", teams=["security"]))
    client.get("/postmortems/INC-2026-002")
    client.get("/postmortems/INC-2026-001")
    result = runner.invoke(args=["audit", "--action", "view-restricted"])
    assert "member@x.example" in result.output and "INC-2026-002" in result.output
    assert "INC-2026-001" not in result.output
