"""Malformed numbers and deeply nested JSON get a clear 4xx on every endpoint, never a 500."""

import json

import pytest

from kb import accounts

HUGE = "99999999999999999999999"
# Numbers a person or a script may send that int() or the database chokes on: a superscript
# digit (str.isdigit() says yes, int() says no), more than any column holds, a negative
# one, more digits than Python converts, and the forms int() accepts that are not numbers
# a person writes (underscores, surrounding spaces).
HOSTILE_NUMBERS = [
    "²",
    HUGE,
    "-" + HUGE,
    "1" * 5000,
    "1_000",
    " 7",
    "3.0",
    "٣",
    "2147483647",
    "2147483648",
]
NUMBER_PARAMS = ("page", "per_page", "limit", "a", "b", "version", "number", "position")


def _deep(depth):
    """A JSON text nested `depth` levels deep (lists inside an object)."""
    return '{"title": ' + "[" * depth + "]" * depth + "}"


@pytest.fixture
def signed_in(client, login, make_user, make_postmortem, csrf_token):
    """An admin signed in with a session cookie, one postmortem, and the CSRF token."""
    admin = make_user("admin@x.example", role="admin", teams=["payments"])
    pm = make_postmortem(title="Queue backlog", authors=["admin@x.example"])
    login(admin)
    return pm.ref, csrf_token()


def _paths(app, ref, number):
    """Every rule of the app, once per method, with its arguments filled in."""
    filled = {"ref": ref, "month": "2026-03", "token": "not-a-token", "filename": "kb.css"}
    filled["name"] = "graph.png"
    for rule in app.url_map.iter_rules():
        values = {name: number if name in NUMBER_ARGS else filled[name] for name in rule.arguments}
        path = rule.rule
        for name, value in values.items():
            path = path.replace(f"<int:{name}>", value).replace(f"<{name}>", value)
            path = path.replace(f"<path:{name}>", value)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


NUMBER_ARGS = {"position", "number", "theme_id", "hook_id"}


def _server_errors(app, client, ref, token, number, body):
    """(method, path, status) for every request that got a 5xx."""
    query = "&".join(f"{name}={number}" for name in NUMBER_PARAMS)
    form = {"csrf_token": token, **dict.fromkeys(NUMBER_PARAMS, number)}
    form.update({"action-0-title": "Stage pushes", "action-0-factor": number})
    failures = []
    for method, path in _paths(app, ref, number.strip() if number.strip().isdigit() else HUGE):
        if path == "/sign-out":
            continue  # the sweep needs the session
        url = f"{path}?{query}"
        if method == "GET":
            requests = [{}, {"headers": {"Accept": "application/json"}}]
        else:
            headers = {"X-CSRFToken": token, "Content-Type": "application/json"}
            requests = [{"data": form}, {"data": body, "headers": headers}]
        for kwargs in requests:
            status = _status(client, method, url, kwargs)
            if not isinstance(status, int) or status >= 500:
                failures.append((method, path, status))
    return failures


def _status(client, method, url, kwargs):
    """The response's status; an exception (which TESTING lets through) counts as a 500."""
    try:
        return client.open(url, method=method, **kwargs).status_code
    except Exception as exc:  # noqa: BLE001 - any exception is the 500 the sweep looks for
        return f"500 ({type(exc).__name__}: {str(exc)[:80]})"


@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
def test_no_endpoint_answers_a_malformed_number_with_a_server_error(app, client, signed_in, number):
    ref, token = signed_in
    body = json.dumps(
        {
            "title": "Hostile numbers",
            "ref": int(HUGE),
            "number": int(HUGE),
            "version": int(HUGE),
            "limit": int(HUGE),
            "action": "submit",
            "action_items": [{"title": "x", "factor": int(HUGE)}],
        }
    )
    assert _server_errors(app, client, ref, token, number, body) == []


def test_no_endpoint_answers_deeply_nested_json_with_a_server_error(app, client, signed_in):
    ref, token = signed_in
    assert _server_errors(app, client, ref, token, "1", _deep(100_000)) == []


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_refused_clearly(client, session, make_user, depth):
    make_user("author@x.example", role="author")
    _row, token = accounts.create_token(session, "author@x.example", "test")
    session.commit()
    response = client.post(
        "/api/v1/postmortems",
        data=_deep(depth),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "nested" in response.json["error"]["message"]


@pytest.mark.parametrize("value", ["²", HUGE, "0", "-1", "1_0", "abc"])
def test_a_malformed_page_number_names_the_parameter(client, signed_in, value):
    page = client.get(f"/?page={value}")
    assert page.status_code == 400
    assert "page: must be a whole number" in page.get_data(as_text=True)
    api = client.get(f"/api/v1/postmortems?page={value}")
    assert api.status_code == 400
    assert api.json["error"]["errors"] == [
        {"field": "page", "message": api.json["error"]["errors"][0]["message"]}
    ]
    assert "must be a whole number" in api.json["error"]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/themes/" + HUGE,
        "/api/v1/postmortems/{ref}/revisions/" + HUGE,
        "/postmortems/{ref}/revisions/compare?a=1&b=" + HUGE,
    ],
)
def test_huge_ids_in_urls_are_not_found_or_refused(client, signed_in, path):
    ref, _token = signed_in
    response = client.get(path.format(ref=ref), headers={"Accept": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.json["error"]["message"]


def test_a_huge_version_in_json_names_the_field(client, signed_in):
    ref, token = signed_in
    doc = client.get(f"/api/v1/postmortems/{ref}").json
    doc["version"] = int(HUGE)
    response = client.put(f"/api/v1/postmortems/{ref}", json=doc, headers={"X-CSRFToken": token})
    assert response.status_code == 400
    assert response.json["error"]["errors"][0]["field"] == "version"


def test_a_huge_token_number_is_refused_by_the_command(runner):
    outcome = runner.invoke(args=["tokens", "revoke", HUGE])
    assert outcome.exit_code == 2
    assert "is not in the range" in outcome.output


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_kb_import_reports_deeply_nested_json_instead_of_crashing(
    runner, make_postmortem, tmp_path, suffix
):
    make_postmortem(title="Already here")
    path = tmp_path / f"deep{suffix}"
    path.write_text(_deep(100_000) + "\n")
    outcome = runner.invoke(args=["import", str(path)])
    assert outcome.exit_code == 1
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit)
    assert "nested too deeply to read" in outcome.output
