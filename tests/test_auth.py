"""Signing in and out, sessions, rate limits, redirects and security headers."""

import pytest

from kb.web import CONTENT_SECURITY_POLICY


def sign_in(client, csrf_token, email, password, **extra):
    data = {"email": email, "password": password, "csrf_token": csrf_token(), **extra}
    return client.post("/sign-in", data=data)


def test_sign_in_and_out(client, csrf_token, make_user):
    make_user("author@x.example", role="author")
    response = sign_in(client, csrf_token, "Author@X.example", "correct horse battery")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "author@x.example" in client.get("/").get_data(as_text=True)
    response = client.post("/sign-out", data={"csrf_token": csrf_token()})
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_session_cookie_is_httponly_and_samesite(client, csrf_token, make_user):
    make_user("a@x.example")
    response = sign_in(client, csrf_token, "a@x.example", "correct horse battery")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_cookies_are_secure_behind_https(database_url, tmp_path):
    from kb import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path),
            "BASE_URL": "https://kb.example",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    app.extensions["kb_engine"].dispose()


@pytest.mark.parametrize(
    ("email", "password"),
    [("a@x.example", "wrong password"), ("nobody@x.example", "correct horse battery")],
)
def test_a_wrong_password_or_unknown_user_gets_one_clear_message(
    client, csrf_token, make_user, email, password
):
    make_user("a@x.example")
    response = sign_in(client, csrf_token, email, password)
    assert response.status_code == 401
    assert "do not match an active account" in response.get_data(as_text=True)


def test_a_disabled_user_cannot_sign_in_and_loses_their_session(
    client, csrf_token, make_user, runner, login
):
    user = make_user("a@x.example")
    login(user)
    assert client.get("/").status_code == 200
    assert runner.invoke(args=["users", "disable", "a@x.example"]).exit_code == 0
    assert client.get("/").status_code == 302  # the live session ends
    response = sign_in(client, csrf_token, "a@x.example", "correct horse battery")
    assert response.status_code == 401


def test_sign_in_is_rate_limited(app, client, csrf_token, make_user):
    make_user("a@x.example")
    limit = app.config["LOGIN_RATE_LIMIT"]
    for _ in range(limit):
        assert sign_in(client, csrf_token, "a@x.example", "wrong password").status_code == 401
    response = sign_in(client, csrf_token, "a@x.example", "correct horse battery")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
    ],
)
def test_no_open_redirect_after_sign_in(client, csrf_token, make_user, target):
    make_user("a@x.example")
    response = sign_in(client, csrf_token, "a@x.example", "correct horse battery", next=target)
    assert response.headers["Location"] == "/"


def test_a_local_next_is_followed(client, csrf_token, make_user):
    make_user("a@x.example")
    response = sign_in(
        client, csrf_token, "a@x.example", "correct horse battery", next="/postmortems/X"
    )
    assert response.headers["Location"] == "/postmortems/X"


def test_forms_without_a_csrf_token_are_refused(client, make_user, login):
    make_user("a@x.example")
    response = client.post("/sign-in", data={"email": "a@x.example", "password": "x" * 12})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    login(make_user("b@x.example"))
    response = client.post("/sign-out", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert client.get("/").status_code == 200  # still signed in


@pytest.mark.parametrize(
    "path",
    [
        "/sign-in",
        "/",
        "/postmortems/INC-2026-001",
        "/nowhere",
        "/admin/audit",
        "/api/v1/postmortems",
        "/static/style.css",
    ],
)
def test_security_headers_on_every_page(client, login, make_user, make_postmortem, path):
    make_postmortem(ref="INC-2026-001")
    for signed_in in (False, True):
        if signed_in:
            login(make_user(f"{path.count('/')}{len(path)}@x.example"))
        response = client.get(path)
        response.close()
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"


def test_no_inline_script_in_pages(client, login, make_user, make_postmortem):
    make_postmortem(ref="INC-2026-001")
    login(make_user("a@x.example", role="admin"))
    for path in ("/", "/postmortems/INC-2026-001", "/admin/audit"):
        page = client.get(path).get_data(as_text=True)
        assert "<script>" not in page and " on" + "click=" not in page


def test_the_audit_log_is_for_admins(client, login, make_user, make_postmortem):
    make_postmortem(ref="INC-2026-001")
    login(make_user("reader@x.example"))
    assert client.get("/admin/audit").status_code == 403
    login(make_user("admin@x.example", role="admin"))
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "INC-2026-001" in page and "create" in page


def test_trusted_header_sign_on(database_url, tmp_path):
    from kb import accounts, create_app
    from kb.db import get_session

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path),
            "AUTH_TRUSTED_HEADER": "X-Forwarded-Email",
        }
    )
    with app.app_context():
        accounts.create_user(get_session(), "sso@x.example", "reader")
        accounts.create_user(get_session(), "gone@x.example", "reader").active = False
        get_session().commit()
    client = app.test_client()
    assert client.get("/", headers={"X-Forwarded-Email": "sso@x.example"}).status_code == 200
    assert client.get("/", headers={"X-Forwarded-Email": "gone@x.example"}).status_code == 302
    assert client.get("/", headers={"X-Forwarded-Email": "who@x.example"}).status_code == 302
    assert client.get("/").status_code == 302
    app.extensions["kb_engine"].dispose()


def test_the_trusted_header_is_ignored_unless_configured(client, make_user):
    make_user("a@x.example")
    assert client.get("/", headers={"X-Forwarded-Email": "a@x.example"}).status_code == 302


def test_oversized_bodies_get_413(client, csrf_token):
    response = client.post(
        "/sign-in", data={"email": "x" * (3 * 1024 * 1024), "csrf_token": csrf_token()}
    )
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_an_expired_session_asks_to_sign_in_again(app, client, login, make_user):
    from datetime import timedelta

    login(make_user("a@x.example"))
    assert client.get("/").status_code == 200
    app.permanent_session_lifetime = timedelta(seconds=-1)  # every session is now too old
    response = client.get("/postmortems/INC-2026-001")
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")
    app.permanent_session_lifetime = timedelta(hours=12)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Please sign in to see this page." in page
    api = client.get("/api/v1/postmortems")
    assert api.status_code == 401 and api.json["error"]["message"]


@pytest.mark.parametrize(
    "path", ["/?status=%00", "/api/v1/postmortems?team=a%00b", "/x%00y", "/?a=1&a=%00", "/?%00=1"]
)
def test_a_nul_character_is_refused_clearly(client, login, make_user, path):
    login(make_user("a@x.example"))
    response = client.get(path)
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)


def test_a_nul_character_in_a_json_body_is_refused(client, session, make_user):
    from kb import accounts

    make_user("a@x.example", role="author")
    _row, token = accounts.create_token(session, "a@x.example", "t")
    session.commit()
    response = client.post(
        "/api/v1/postmortems",
        json={"title": "ok", "tags": ["a\x00"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400 and "NUL" in response.json["error"]["message"]
