"""The visibility matrix: every read path, against every kind of user.

A restricted postmortem carries a unique marker word in its title, its sections, its factors,
its action items and their owners, its tags, teams and services, its timeline's sources and
its links. Someone who may not see it must find no trace of it (no title, no snippet, no
count, no suggested or filterable value); someone who may must find it. New read paths join
READ_PATHS.
"""

import json

import pytest

MARKER = "Quokkafirewall"
LOWER = MARKER.lower()  # labels (tags, teams, services) are lower case


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
    # The items, and the team and owner filters' lists of values.
    return client.get("/actions?view=all").get_data(as_text=True)


def _editor_pages(client, token, _tmp_path, _runner, _email):
    # The form of a draft of the person's own, with its suggestion lists (services, teams,
    # tags, owners), and the page that starts a new one. Readers get 403 for both. (A
    # published postmortem is amended only by its own authors and teams: a draft is the form
    # every author may open.)
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post("/api/v1/postmortems", json={"title": "My draft"}, headers=headers)
    paths = ["/postmortems/new"]
    if created.status_code == 201:
        paths.insert(0, f"/postmortems/{created.json['ref']}/edit")
    return "".join(client.get(path).get_data(as_text=True) for path in paths)


def _history_page(client, _token, _tmp_path, _runner, _email):
    return client.get("/postmortems/INC-2026-002/revisions").get_data(as_text=True)


def _api_revision(client, token, _tmp_path, _runner, _email):
    response = client.get(
        "/api/v1/postmortems/INC-2026-002/revisions/1", headers={"Authorization": f"Bearer {token}"}
    )
    return response.get_data(as_text=True)


def _digest_preview(client, _token, _tmp_path, _runner, _email):
    # The page, its plain-text tab and the e-mail HTML in the frame (the fixtures publish in
    # March 2026).
    paths = ("/digest/2026-03", "/digest/2026-03?view=text", "/digest/2026-03/email.html")
    return "".join(client.get(path).get_data(as_text=True) for path in paths)


def _digest_api(client, token, _tmp_path, _runner, _email):
    response = client.get("/api/v1/digest/2026-03", headers={"Authorization": f"Bearer {token}"})
    return response.get_data(as_text=True)


# --- themes, similar incidents, figures (kb/insights): stored rows read through visibility


def _themes_rebuilt(runner):
    result = runner.invoke(args=["themes", "rebuild"])
    assert result.exit_code == 0, result.output


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _themes_page(client, _token, _tmp_path, runner, _email):
    _themes_rebuilt(runner)
    return client.get("/themes").get_data(as_text=True)


def _theme_pages(client, _token, _tmp_path, runner, _email):
    _themes_rebuilt(runner)
    return "".join(client.get(f"/themes/{i}").get_data(as_text=True) for i in range(1, 4))


def _themes_api(client, token, _tmp_path, runner, _email):
    _themes_rebuilt(runner)
    return client.get("/api/v1/themes", headers=_bearer(token)).get_data(as_text=True)


def _similar_api(client, token, _tmp_path, runner, _email):
    _themes_rebuilt(runner)
    return "".join(
        client.get(f"/api/v1/postmortems/{ref}/similar", headers=_bearer(token)).get_data(
            as_text=True
        )
        for ref in ("INC-2026-001", "INC-2026-002")
    )


def _suggest_api(client, token, _tmp_path, runner, _email):
    _themes_rebuilt(runner)
    # The marker is in no internal postmortem, so it is no term (statistics are internal
    # ones): the restricted postmortem is found by the service it shares with the text.
    text = f"checkout configuration push {MARKER}"
    response = client.get(
        "/api/v1/similar",
        query_string={"text": text, "service": "checkout-api"},
        headers=_bearer(token),
    )
    return response.get_data(as_text=True)


def _similar_on_page(client, _token, _tmp_path, runner, _email):
    _themes_rebuilt(runner)
    return client.get("/postmortems/INC-2026-001").get_data(as_text=True)


def _radar_api(client, token, _tmp_path, runner, _email):
    # The radar of the ordinary incident (a config change to checkout-api, as the restricted
    # one is), and of a change not saved yet: its past incidents, themes, open action items
    # and the share of its services' incidents that followed a config change.
    _themes_rebuilt(runner)
    saved = client.get("/api/v1/postmortems/INC-2026-001/radar", headers=_bearer(token))
    typed = client.post(
        "/api/v1/radar",
        json={
            "services": ["checkout-api"],
            "trigger": "config-change",
            "text": "A checkout configuration push",
        },
        headers=_bearer(token),
    )
    return saved.get_data(as_text=True) + typed.get_data(as_text=True)


def _radar_page(client, _token, _tmp_path, runner, _email):
    _themes_rebuilt(runner)
    return client.get("/postmortems/INC-2026-001/radar").get_data(as_text=True)


def _figures_page(client, _token, _tmp_path, runner, _email):
    _themes_rebuilt(runner)
    return client.get("/figures?from=2026-01&to=2026-06").get_data(as_text=True)


def _figures_api(client, token, _tmp_path, runner, _email):
    _themes_rebuilt(runner)
    response = client.get("/api/v1/figures?from=2026-01&to=2026-06", headers=_bearer(token))
    return response.get_data(as_text=True)


def _figures_csv(client, _token, _tmp_path, _runner, _email):
    import csv
    import io

    text = client.get("/figures.csv?from=2026-03&to=2026-03").get_data(as_text=True)
    # The CSV holds only numbers, so its trace is a count: March 2026 has the ordinary
    # incident, and the restricted one only for those who may see it.
    rows = list(csv.DictReader(io.StringIO(text))) if text.startswith("month,") else []
    incidents = int(rows[0]["incidents"]) if rows else 0
    return (
        text
        + ("An ordinary internal incident" if incidents >= 1 else "")
        + (MARKER if incidents == 2 else "")
    )


# --- search (kb/search): hits, passages, counts and "did you mean" ----------------------


def _search(client, query, token=None):
    # The page and the API echo what the person typed: that is theirs, not a leak. Remove
    # the echo (plain, HTML-escaped and URL-encoded) and keep everything the index returned.
    from urllib.parse import quote, quote_plus

    from markupsafe import escape

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    path = "/api/v1/search" if token else "/search"
    text = client.get(path, query_string={"q": query}, headers=headers).get_data(as_text=True)
    # (A signed-out person is sent to sign in with the query in `next`, encoded twice.)
    echoes = (query, str(escape(query)), quote_plus(query), quote(query), quote(quote_plus(query)))
    for echo in echoes:
        text = text.replace(echo, "")
    return text


def _search_page(client, _token, _tmp_path, _runner, _email):
    # "configuration" finds the ordinary incident; "credential" the restricted one.
    return _search(client, "credential OR configuration")


def _search_misspelt(client, _token, _tmp_path, _runner, _email):
    # A misspelt marker: only those who may see it are offered it as "did you mean".
    return _search(client, f"{MARKER[:-1]} OR configuration")


def _search_exact(client, _token, _tmp_path, _runner, _email):
    # The marker as written (the unstemmed `exact` field), beside a word everyone finds. The
    # page names the word searched as written: an echo of what was typed, removed too.
    text = _search(client, f'"{MARKER}" OR configuration')
    echo = f"Searched exactly as typed, without other forms or synonyms: {LOWER}</p>"
    return text.replace(echo, "")


def _search_api(client, token, _tmp_path, _runner, _email):
    return _search(client, "credential OR configuration", token) + _search(
        client, f"{MARKER[:-1]} OR configuration", token
    )


READ_PATHS = {
    "actions": _actions_page,
    "editor": _editor_pages,
    "history": _history_page,
    "api-revision": _api_revision,
    "list": _list_page,
    "list-by-status": _list_page_by_status,
    "detail": _detail_page,
    "api-list": _api_list,
    "api-detail": _api_detail,
    "export": _export,
    "digest-preview": _digest_preview,
    "digest-api": _digest_api,
    "themes": _themes_page,
    "theme-detail": _theme_pages,
    "themes-api": _themes_api,
    "similar-api": _similar_api,
    "suggest-api": _suggest_api,
    "similar-on-page": _similar_on_page,
    "radar-api": _radar_api,
    "radar-page": _radar_page,
    "figures": _figures_page,
    "figures-csv": _figures_csv,
    "figures-api": _figures_api,
    "search": _search_page,
    "search-did-you-mean": _search_misspelt,
    "search-exact": _search_exact,
    "search-api": _search_api,
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

    single = ("detail", "api-detail", "history", "api-revision", "editor")
    assert "An ordinary internal incident" in text or path in single or path == "actions"
    if allowed and not (path == "editor" and role == "reader"):  # readers may not write
        assert LOWER in text.lower()
    else:
        assert LOWER not in text.lower()
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
        assert LOWER not in text.lower() and "ordinary internal" not in text, name


def test_viewing_a_restricted_postmortem_is_audited(world, client, login, make_user, runner):
    login(make_user("member@x.example", teams=["security"]))
    client.get("/postmortems/INC-2026-002")
    client.get("/postmortems/INC-2026-001")
    result = runner.invoke(args=["audit", "--action", "view-restricted"])
    assert "member@x.example" in result.output and "INC-2026-002" in result.output
    assert "INC-2026-001" not in result.output


# --- what search derives from words: statistics and corrections ------------------------------


def search_scores(client, token, query):
    """{ref: score} of the API's hits (scores as the API gives them)."""
    response = client.get("/api/v1/search", query_string={"q": query}, headers=_bearer(token))
    return {hit["ref"]: hit["score"] for hit in response.get_json()["hits"]}


def test_scores_do_not_move_when_a_restricted_postmortem_holds_the_words(
    world, client, make_user, make_postmortem
):
    """IDF and mean lengths come from what every reader may read: adding a restricted
    postmortem full of the words changes no score, so its words cannot be inferred."""
    from kb import accounts

    make_postmortem(ref="INC-2026-003", title="Disk pressure on the cache", summary="Disk full.")
    make_postmortem(ref="INC-2026-004", title="Queue backlog", summary="A slow disk, a queue.")
    make_user("reader@x.example", teams=["storefront"])
    _row, token = accounts.create_token(world, "reader@x.example", "matrix")
    world.commit()
    before = search_scores(client, token, "disk")
    assert set(before) == {"INC-2026-003", "INC-2026-004"}
    make_postmortem(
        ref="INC-2026-005",
        title="Disk queue disk queue",
        visibility="restricted",
        teams=["security"],
        summary="disk queue " * 40,
    )
    assert search_scores(client, token, "disk") == before
    # A member of the team reads it: it is among their hits (the test could fail).
    make_user("member@x.example", teams=["security"])
    _row, member = accounts.create_token(world, "member@x.example", "matrix")
    world.commit()
    assert "INC-2026-005" in search_scores(client, member, "disk")


def test_did_you_mean_is_not_crowded_out_by_words_the_reader_may_not_read(
    world, client, login, make_user, make_postmortem
):
    """Close words are weighed up to a number: only the reader's count towards it. Forty
    words of a restricted postmortem, closer and earlier in the term list than the word of
    a visible one, neither show nor push that word out of the suggestion."""
    from kb.search import analysis

    near = [f"zorba{a}{b}" for a in "bcdfg" for b in "bcdfghklmnp"]
    near = [w for w in near if analysis.stem(w) == w][:40]
    assert len(near) == 40
    make_postmortem(ref="INC-2026-003", title="Zorbyz outage", summary="The zorbyz pool fell.")
    make_postmortem(
        ref="INC-2026-004",
        title="Hidden words",
        visibility="restricted",
        teams=["security"],
        summary=" ".join(near),
    )
    login(make_user("reader@x.example", teams=["storefront"]))
    text = _search(client, "zorbax").lower()
    assert "zorbyz" in text
    assert not any(word in text for word in near)


def test_a_wildcard_expands_to_the_readers_words_only(
    world, client, login, make_user, make_postmortem, monkeypatch
):
    """A prefix stands for at most a number of words: only words of postmortems the reader
    may read take those places, so a restricted postmortem's words can neither push a
    visible word out nor announce themselves by a cut."""
    from kb.search import expand

    monkeypatch.setattr(expand, "MAX_TERMS", 5)
    make_postmortem(
        ref="INC-2026-003",
        title="Hidden words",
        visibility="restricted",
        teams=["security"],
        summary="zorbaa zorbab zorbac zorbad zorbaf zorbag zorbah",
    )
    make_postmortem(ref="INC-2026-004", title="Zorbyz outage", summary="The zorbyz pool fell.")
    login(make_user("reader@x.example", teams=["storefront"]))
    text = _search(client, "zorb*")
    assert "INC-2026-004" in text
    assert "Only the first" not in text  # no cut: the reader's words were all searched
    login(make_user("member@x.example", teams=["security"]))
    assert "Only the first" in _search(client, "zorb*")
