"""Users, roles and API tokens, through the CLI and the API."""

import pytest
from sqlmodel import select

from kb import accounts
from kb.models import User


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_users_cli(runner, session):
    result = runner.invoke(
        args=["users", "create", "Ann@X.example", "--role", "author", "--team", "payments",
              "--password", "a long password"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Created ann@x.example (author)" in result.output
    again = runner.invoke(args=["users", "create", "ann@x.example", "--password", "x" * 12])
    assert again.exit_code == 1 and "already exists" in again.output
    short = runner.invoke(args=["users", "create", "bo@x.example", "--password", "short"])
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    assert runner.invoke(args=["users", "set-role", "ann@x.example", "admin"]).exit_code == 0
    assert runner.invoke(args=["users", "disable", "ann@x.example"]).exit_code == 0
    listing = runner.invoke(args=["users", "list"]).output
    assert "ann@x.example" in listing and "admin" in listing and "disabled" in listing
    missing = runner.invoke(args=["users", "disable", "nobody@x.example"])
    assert missing.exit_code == 1 and "no user nobody@x.example" in missing.output
    user = accounts.get_user(session, "ann@x.example")
    assert user.password_hash.startswith("scrypt:")
    assert user.teams == ["payments"]


def test_users_create_prompts_for_a_password(runner, session):
    result = runner.invoke(
        args=["users", "create", "p@x.example"], input="a long password\na long password\n"
    )
    assert result.exit_code == 0, result.output
    assert accounts.authenticate(session, "p@x.example", "a long password") is not None


def test_tokens_work_until_revoked(client, runner, make_user, make_postmortem):
    make_user("a@x.example", role="author")
    make_postmortem(ref="INC-2026-001")
    created = runner.invoke(args=["tokens", "create", "a@x.example", "--name", "ci"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert token.startswith("kb_")
    response = client.get("/api/v1/postmortems/INC-2026-001", headers=bearer(token))
    assert response.status_code == 200 and response.json["ref"] == "INC-2026-001"
    assert response.json["version"] == 1
    assert token not in runner.invoke(args=["tokens", "list"]).output

    assert runner.invoke(args=["tokens", "revoke", "1"]).exit_code == 0
    response = client.get("/api/v1/postmortems/INC-2026-001", headers=bearer(token))
    assert response.status_code == 401
    assert response.json["error"]["message"] == "Sign in, or send a valid API token."
    assert "revoked" in runner.invoke(args=["tokens", "list"]).output


def test_a_disabled_users_token_stops_working(client, session, make_user):
    make_user("a@x.example")
    _row, token = accounts.create_token(session, "a@x.example", "ci")
    session.commit()
    assert client.get("/api/v1/me", headers=bearer(token)).json["email"] == "a@x.example"
    accounts.set_active(session, "a@x.example", False)
    session.commit()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_a_wrong_token_gets_401_json(client):
    response = client.get("/api/v1/postmortems", headers=bearer("kb_nonsense"))
    assert response.status_code == 401
    assert response.is_json


def test_only_the_digest_of_a_token_is_stored(session, make_user):
    make_user("a@x.example")
    row, token = accounts.create_token(session, "a@x.example", "ci")
    assert token not in row.digest and len(row.digest) == 64


def test_api_errors_are_json(client, session, make_user):
    make_user("a@x.example")
    _row, token = accounts.create_token(session, "a@x.example", "ci")
    session.commit()
    missing = client.get("/api/v1/postmortems/INC-1999-001", headers=bearer(token))
    assert missing.status_code == 404 and missing.json["error"]["status"] == 404
    bad = client.get("/api/v1/postmortems?per_page=1000", headers=bearer(token))
    assert bad.status_code == 400 and bad.json["error"]["errors"][0]["field"] == "per_page"
    bad = client.get("/api/v1/postmortems?status=closed", headers=bearer(token))
    assert bad.status_code == 400 and "status" in bad.json["error"]["message"]
    nowhere = client.get("/api/v1/nowhere", headers=bearer(token))
    assert nowhere.status_code == 404 and nowhere.is_json


def test_roles_are_checked(session):
    with pytest.raises(accounts.AccountError, match="role must be one of"):
        accounts.create_user(session, "a@x.example", "owner")
    assert session.exec(select(User)).all() == []


def test_token_use_is_recorded_without_a_write_per_call(client, session, make_user):
    from kb.models import ApiToken

    make_user("a@x.example")
    row, token = accounts.create_token(session, "a@x.example", "ci")
    session.commit()
    client.get("/api/v1/me", headers=bearer(token))
    session.expire_all()
    first = session.get(ApiToken, row.id).last_used_at
    assert first is not None
    client.get("/api/v1/me", headers=bearer(token))
    session.expire_all()
    assert session.get(ApiToken, row.id).last_used_at == first  # within the minute: unchanged
