"""Sessions that end, tokens that stand alone, and sign-in limits one client cannot abuse."""

import pytest
from sqlmodel import select

from kb import accounts
from kb.models import LoginAttempt
from kb.ops.proxies import client_address, rate_limit_key
from tests.conftest import PASSWORD

PROXY = "127.0.0.1"  # deploy/nginx on the same host: in the default KB_TRUSTED_PROXIES


def _session_cookie(client):
    return client.get_cookie("session").value


def _replay(app, cookie, path="/", **kwargs):
    """The same request from a fresh browser that holds only a copy of the cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other.get(path, **kwargs)


def _attempt(client, csrf_token, email, password, client_ip=None, peer=PROXY):
    """A sign-in through the proxy (peer) on behalf of client_ip (X-Forwarded-For)."""
    headers = {"X-Forwarded-For": client_ip} if client_ip else {}
    return client.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_token()},
        headers=headers,
        environ_base={"REMOTE_ADDR": peer},
    )


# --- sessions end -------------------------------------------------------------------------


def test_a_cookie_copied_before_sign_out_is_signed_out(app, client, login, make_user, csrf_token):
    login(make_user("a@x.example"))
    cookie = _session_cookie(client)
    assert _replay(app, cookie).status_code == 200
    assert client.post("/sign-out", data={"csrf_token": csrf_token()}).status_code == 302
    response = _replay(app, cookie)
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")
    assert _replay(app, cookie, "/api/v1/me").status_code == 401


def test_disabling_and_enabling_does_not_revive_old_sessions(app, client, login, make_user, runner):
    user = make_user("a@x.example")
    login(user)
    cookie = _session_cookie(client)
    assert runner.invoke(args=["users", "disable", "a@x.example"]).exit_code == 0
    assert runner.invoke(args=["users", "enable", "a@x.example"]).exit_code == 0
    assert _replay(app, cookie).status_code == 302
    assert client.get("/").status_code == 302
    login(user)  # signing in again works
    assert client.get("/").status_code == 200


def test_a_new_password_ends_the_sessions_signed_in_with_the_old(
    app, client, login, make_user, runner
):
    login(make_user("a@x.example"))
    cookie = _session_cookie(client)
    result = runner.invoke(
        args=["users", "set-password", "a@x.example", "--password", "a brand new passphrase"]
    )
    assert result.exit_code == 0, result.output
    assert _replay(app, cookie).status_code == 302
    assert _replay(app, cookie, "/api/v1/me").status_code == 401


def test_a_session_from_another_generation_or_not_ours_signs_nobody_in(app, make_user):
    user = make_user("a@x.example")
    for user_id in (str(user.id), f"{user.id}:{user.session_generation + 1}", "x:y", "1:²"):
        other = app.test_client()
        with other.session_transaction() as s:
            s["_user_id"] = user_id
            s["_fresh"] = True
        assert other.get("/").status_code == 302, user_id


# --- a bearer token stands alone ----------------------------------------------------------


@pytest.fixture
def admin_cookie_client(client, login, make_user):
    login(make_user("admin@x.example", role="admin"))
    assert client.get("/api/v1/me").json["email"] == "admin@x.example"
    return client


def test_an_invalid_bearer_token_is_401_even_with_a_valid_cookie(admin_cookie_client):
    client = admin_cookie_client
    bogus = {"Authorization": "Bearer not-a-token"}
    response = client.get("/api/v1/me", headers=bogus)
    assert response.status_code == 401 and response.json["error"]["message"]
    # Without the fix this skipped CSRF (a token was sent) and wrote as the cookie's admin.
    created = client.post("/api/v1/postmortems", json={"title": "Forged"}, headers=bogus)
    assert created.status_code == 401
    assert client.get("/api/v1/postmortems").json["total"] == 0


def test_a_bearer_request_is_the_tokens_user_never_the_cookies(
    admin_cookie_client, session, make_user
):
    make_user("reader@x.example", role="reader")
    _row, token = accounts.create_token(session, "reader@x.example", "test")
    session.commit()
    client = admin_cookie_client
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).json["email"] == "reader@x.example"
    created = client.post("/api/v1/postmortems", json={"title": "A"}, headers=headers)
    assert created.status_code == 403  # a reader, whatever the cookie says
    # Tokens are for the API: on a page a bearer request is nobody, not the cookie's user.
    assert client.get("/", headers=headers).status_code == 302
    assert client.get("/").status_code == 200  # the cookie alone still works


# --- the client's address -----------------------------------------------------------------


def _addresses(session):
    session.expire_all()
    return [a.address for a in session.exec(select(LoginAttempt).order_by(LoginAttempt.id))]


def test_x_forwarded_for_is_the_client_only_from_a_trusted_proxy(client, csrf_token, session):
    _attempt(client, csrf_token, "a@x.example", "wrong password", "203.0.113.5")
    _attempt(client, csrf_token, "a@x.example", "wrong password", "203.0.113.5", "198.51.100.7")
    # A client's own X-Forwarded-For reaches us through nginx as "forged, real".
    _attempt(client, csrf_token, "a@x.example", "wrong password", "192.0.2.1, 203.0.113.9")
    assert _addresses(session) == ["203.0.113.5", "198.51.100.7", "203.0.113.9"]


def test_trusted_proxies_come_from_the_configuration(database_url, tmp_path):
    from kb import create_app

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path),
            "TRUSTED_PROXIES": "10.0.0.0/8",
        }
    )
    seen = {}

    @app.get("/_address")
    def _address():
        from flask import request

        seen["address"] = request.remote_addr
        return ""

    client = app.test_client()
    client.get("/_address", headers={"X-Forwarded-For": "203.0.113.5"})
    assert seen["address"] == "127.0.0.1"  # no longer a trusted proxy
    client.get(
        "/_address",
        headers={"X-Forwarded-For": "203.0.113.5, 10.1.1.1"},
        environ_base={"REMOTE_ADDR": "10.2.2.2"},
    )
    assert seen["address"] == "203.0.113.5"  # past two proxies of ours
    app.extensions["kb_engine"].dispose()


def test_request_ids_are_still_taken_from_the_proxy_only(client):
    headers = {"X-Request-ID": "abc-123", "X-Forwarded-For": "203.0.113.5"}
    assert client.get("/sign-in", headers=headers).headers["X-Request-ID"] == "abc-123"
    outside = client.get("/sign-in", headers=headers, environ_base={"REMOTE_ADDR": "192.0.2.8"})
    assert outside.headers["X-Request-ID"] != "abc-123"


@pytest.mark.parametrize(
    ("header", "client_ip"),
    [
        ("", None),
        ("203.0.113.5", "203.0.113.5"),
        ("192.0.2.1, 203.0.113.5", "203.0.113.5"),
        ("203.0.113.5, 127.0.0.1", "203.0.113.5"),
        ("127.0.0.1", "127.0.0.1"),
        ("203.0.113.5, not-an-address", None),
        ("2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_is_the_rightmost_address_that_is_not_a_proxy(header, client_ip):
    from kb.ops.observability import parse_networks

    assert client_address(header, parse_networks("127.0.0.1/32,::1/128")) == client_ip


def test_an_ipv6_client_is_counted_by_its_64():
    assert rate_limit_key("2001:db8:1:2::1") == rate_limit_key("2001:db8:1:2:ffff::9")
    assert rate_limit_key("2001:db8:1:2::1") != rate_limit_key("2001:db8:1:3::1")
    assert rate_limit_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert rate_limit_key("garbage") == "unknown"


# --- sign-in limits -----------------------------------------------------------------------


def test_a_flood_from_one_address_does_not_lock_out_other_addresses(
    app, client, csrf_token, make_user
):
    make_user("a@x.example")
    limit = app.config["LOGIN_RATE_LIMIT"]
    for i in range(limit + 5):
        _attempt(client, csrf_token, f"made-up-{i}@x.example", "guess", "203.0.113.66")
    flooded = _attempt(client, csrf_token, "a@x.example", PASSWORD, "203.0.113.66")
    assert flooded.status_code == 429
    assert "Too many failed sign-ins" in flooded.get_data(as_text=True)
    # Everyone else comes through the same proxy, from their own address.
    assert _attempt(client, csrf_token, "b@x.example", "guess", "198.51.100.1").status_code == 401
    assert _attempt(client, csrf_token, "a@x.example", PASSWORD, "198.51.100.2").status_code == 302


def test_one_address_cannot_lock_an_account(app, client, csrf_token, make_user):
    make_user("victim@x.example")
    for _ in range(app.config["LOGIN_RATE_LIMIT"] * 3):
        _attempt(client, csrf_token, "victim@x.example", "guess", "203.0.113.66")
    response = _attempt(client, csrf_token, "victim@x.example", PASSWORD, "198.51.100.2")
    assert response.status_code == 302


def test_an_account_is_locked_by_its_own_limit_from_many_addresses(
    app, client, csrf_token, make_user
):
    make_user("victim@x.example")
    account_limit = app.config["LOGIN_ACCOUNT_LIMIT"]
    assert account_limit > app.config["LOGIN_RATE_LIMIT"]
    for i in range(account_limit):
        status = _attempt(
            client, csrf_token, "victim@x.example", "guess", f"203.0.113.{i}"
        ).status_code
        assert status == 401
    locked = _attempt(client, csrf_token, "victim@x.example", PASSWORD, "198.51.100.2")
    assert locked.status_code == 429
    # Only that account: the same addresses may still sign in to others.
    make_user("other@x.example")
    assert (
        _attempt(client, csrf_token, "other@x.example", PASSWORD, "203.0.113.1").status_code == 302
    )


# --- an unknown account costs a password check too -----------------------------------------


@pytest.fixture
def checked_hashes(monkeypatch):
    """The hashes kb.accounts checks passwords against (the real check still runs)."""
    seen = []
    real = accounts.check_password_hash

    def spy(password_hash, password):
        seen.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(accounts, "check_password_hash", spy)
    return seen


def test_an_unknown_account_is_checked_against_a_hash_like_a_known_one(
    client, csrf_token, make_user, checked_hashes
):
    user = make_user("a@x.example")
    assert _attempt(client, csrf_token, "nobody@x.example", "guess").status_code == 401
    assert _attempt(client, csrf_token, "a@x.example", "guess").status_code == 401
    assert checked_hashes == [accounts.dummy_password_hash(), user.password_hash]
    # Made like the real ones: the same method and the same scrypt cost.
    method = user.password_hash.split("$")[0]
    assert accounts.dummy_password_hash().split("$")[0] == method


def test_a_disabled_or_passwordless_account_is_checked_too(session, make_user, checked_hashes):
    disabled = make_user("gone@x.example", active=False)
    accounts.create_user(session, "sso@x.example", "reader")  # no password: signs on by SSO
    session.commit()
    assert accounts.authenticate(session, "gone@x.example", PASSWORD) is None
    assert accounts.authenticate(session, "sso@x.example", PASSWORD) is None
    assert checked_hashes == [disabled.password_hash, accounts.dummy_password_hash()]


# --- changing one's own password ----------------------------------------------------------


def _change(client, csrf_token, current, new, confirm=None):
    data = {
        "current_password": current,
        "new_password": new,
        "confirm_password": new if confirm is None else confirm,
        "csrf_token": csrf_token(),
    }
    return client.post("/account/password", data=data)


def test_changing_ones_password_ends_the_other_sessions_and_keeps_this_one(
    app, client, login, make_user, csrf_token, session
):
    user = make_user("a@x.example")
    login(user)
    elsewhere = _session_cookie(client)  # the same user, signed in in another browser
    login(user)
    response = _change(client, csrf_token, PASSWORD, "a brand new passphrase")
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # this browser stays signed in
    assert _replay(app, elsewhere).status_code == 302  # the other one is signed out
    session.expire_all()
    assert accounts.authenticate(session, "a@x.example", "a brand new passphrase") is not None
    assert accounts.authenticate(session, "a@x.example", PASSWORD) is None


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("wrong password", "a brand new passphrase", None, "the current password is not right"),
        (PASSWORD, "short", None, "at least 10 characters"),
        (PASSWORD, "a brand new passphrase", "another passphrase", "the two new passwords differ"),
        (PASSWORD, PASSWORD, None, "must differ from the current one"),
    ],
)
def test_a_refused_password_change_changes_nothing(
    app, client, login, make_user, csrf_token, session, current, new, confirm, message
):
    user = make_user("a@x.example")
    login(user)
    cookie = _session_cookie(client)
    response = _change(client, csrf_token, current, new, confirm)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _replay(app, cookie).status_code == 200  # no session ended
    session.expire_all()
    assert accounts.authenticate(session, "a@x.example", PASSWORD) is not None


def test_guessing_the_current_password_is_limited_like_signing_in(
    app, client, login, make_user, csrf_token
):
    login(make_user("a@x.example"))
    for _ in range(app.config["LOGIN_RATE_LIMIT"]):
        assert _change(client, csrf_token, "a guess", "a brand new passphrase").status_code == 400
    response = _change(client, csrf_token, PASSWORD, "a brand new passphrase")
    assert response.status_code == 429


def test_behind_a_proxy_a_real_server_limits_each_client_apart(database_url, make_user, tmp_path):
    """Through gunicorn, as nginx forwards: one client's flood blocks that client alone."""
    import re

    import requests

    from tests.faults.servers import Gunicorn

    make_user("a@x.example")
    env = {
        "KB_DATABASE_URL": database_url,
        "KB_INSTANCE_PATH": str(tmp_path / "instance"),
        "KB_SECRET_KEY": "proxy-test",
    }
    with Gunicorn(tmp_path / "server", env) as server:

        def attempt(email, password, client_ip):
            browser = requests.Session()
            form = browser.get(server.url + "/sign-in", timeout=30).text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form)[1]
            return browser.post(
                server.url + "/sign-in",
                data={"email": email, "password": password, "csrf_token": token},
                headers={"X-Forwarded-For": client_ip},
                allow_redirects=False,
                timeout=30,
            ).status_code

        flood = [attempt(f"made-up-{i}@x.example", "guess", "203.0.113.66") for i in range(11)]
        assert flood == [401] * 10 + [429]
        assert attempt("a@x.example", PASSWORD, "198.51.100.2") == 302
        assert attempt("a@x.example", PASSWORD, "203.0.113.66") == 429
        assert '"remote_addr": "198.51.100.2"' in server.log()  # the access log names the client
