"""The JSON API: documents in and out, versions and conflicts, errors that name the field,
an OpenAPI description that stays true, and a schema-driven fuzz run that finds no 5xx."""

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    FailureGroup,
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kb import accounts, seed
from kb.transfer import read_records


@pytest.fixture
def author_token(session, make_user):
    make_user("author@x.example", role="author", teams=["payments"])
    _row, token = accounts.create_token(session, "author@x.example", "test")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def reader_token(session, make_user):
    make_user("reader@x.example", role="reader")
    _row, token = accounts.create_token(session, "reader@x.example", "test")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_every_seed_document_is_accepted_unchanged(client, session, make_user):
    """Each seed document is accepted as a new draft with all its content (the API creates
    drafts only: published history comes in through `kb import`)."""
    make_user("admin@x.example", role="admin")
    _row, token = accounts.create_token(session, "admin@x.example", "test")
    session.commit()
    author_token = {"Authorization": f"Bearer {token}"}
    records = list(read_records(seed.SEED_DIR / "postmortems"))
    assert len(records) >= 30
    # Pre-mortems first: an incident may name only a pre-mortem that exists.
    records.sort(key=lambda record: record.data.get("kind") != "pre-mortem")
    for record in records:
        original = {k: v for k, v in record.data.items() if k not in ("status", "published_at")}
        response = client.post("/api/v1/postmortems", json=original, headers=author_token)
        assert response.status_code == 201, (record.where, response.json)
        assert response.headers["Location"] == f"/api/v1/postmortems/{record.data['ref']}"
        stored = client.get(response.headers["Location"], headers=author_token).json
        assert stored["status"] == "draft"
        for key, value in original.items():
            if value not in (None, "", []):
                assert _given(stored[key], value) == value, (record.where, key)


def _given(stored, original):
    """A stored value as far as the original gives it: rows keep only the keys it wrote (a
    column added to the format later comes back as null)."""
    if isinstance(original, list) and all(isinstance(row, dict) for row in original):
        return [
            {k: row.get(k) for k in given} for row, given in zip(stored, original, strict=False)
        ]
    return stored


def test_create_read_update_with_versions(client, author_token):
    created = client.post(
        "/api/v1/postmortems", json={"title": "Cache stampede"}, headers=author_token
    )
    assert created.status_code == 201
    doc = created.json
    assert doc["version"] == 1 and doc["status"] == "draft"
    assert doc["authors"] == ["author@x.example"]
    ref = doc["ref"]

    doc["summary"] = "The cache expired everywhere at once."
    updated = client.put(f"/api/v1/postmortems/{ref}", json=doc, headers=author_token)
    assert updated.status_code == 200 and updated.json["version"] == 2

    doc["summary"] = "A stale edit"
    stale = client.put(f"/api/v1/postmortems/{ref}", json=doc, headers=author_token)
    assert stale.status_code == 409
    assert stale.json["current_version"] == 2
    assert stale.json["current"]["summary"] == "The cache expired everywhere at once."

    revisions = client.get(f"/api/v1/postmortems/{ref}/revisions", headers=author_token).json
    assert [r["number"] for r in revisions["items"]] == [2, 1]
    first = client.get(f"/api/v1/postmortems/{ref}/revisions/1", headers=author_token).json
    assert first["document"]["summary"] == ""


def test_malformed_bodies_get_4xx_naming_the_field(client, author_token):
    url = "/api/v1/postmortems"
    not_json = client.post(
        url, data="{oops", headers={**author_token, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 400 and not_json.json["error"]["errors"][0]["field"] == "body"
    array = client.post(url, json=[1, 2], headers=author_token)
    assert array.status_code == 400
    invalid = client.post(
        url, json={"title": "ok title", "severity": "SEV0", "tags": "x"}, headers=author_token
    )
    assert invalid.status_code == 422
    fields = {e["field"] for e in invalid.json["error"]["errors"]}
    assert fields == {"severity", "tags"}
    huge = client.post(
        url,
        data=json.dumps({"title": "x" * (3 * 1024 * 1024)}),
        headers={**author_token, "Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and huge.is_json


def test_put_needs_a_version_and_keeps_status(client, author_token):
    ref = client.post(
        "/api/v1/postmortems", json={"title": "Queue backlog"}, headers=author_token
    ).json["ref"]
    no_version = client.put(
        f"/api/v1/postmortems/{ref}", json={"title": "Queue backlog"}, headers=author_token
    )
    assert no_version.status_code == 400
    assert no_version.json["error"]["errors"][0]["field"] == "version"
    status = client.put(
        f"/api/v1/postmortems/{ref}",
        json={"title": "Queue backlog", "status": "published", "version": 1},
        headers=author_token,
    )
    assert status.status_code == 422 and "transitions" in status.json["error"]["message"]
    missing = client.put(
        "/api/v1/postmortems/INC-1999-001", json={"version": 1}, headers=author_token
    )
    assert missing.status_code == 404


def test_readers_cannot_write(client, reader_token):
    response = client.post("/api/v1/postmortems", json={"title": "Nope nope"}, headers=reader_token)
    assert response.status_code == 403 and response.is_json


def test_filters(client, author_token, make_postmortem):
    make_postmortem(ref="INC-2026-001", severity="SEV1", services=["ledger"], tags=["tls"])
    make_postmortem(
        ref="INC-2026-002",
        severity="SEV3",
        started_at="2026-05-01T00:00:00Z",
        detected_at=None,
        mitigated_at=None,
        resolved_at=None,
        published_at="2026-05-09T00:00:00Z",
    )

    def refs(query):
        response = client.get(f"/api/v1/postmortems?{query}", headers=author_token)
        assert response.status_code == 200, response.json
        return sorted(i["ref"] for i in response.json["items"])

    assert refs("severity=SEV1") == ["INC-2026-001"]
    assert refs("service=ledger&tag=tls") == ["INC-2026-001"]
    assert refs("from=2026-04") == ["INC-2026-002"]
    assert refs("to=2026-03-31") == ["INC-2026-001"]
    assert refs("team=payments") == ["INC-2026-001", "INC-2026-002"]
    assert refs("per_page=1&page=2") in (["INC-2026-001"], ["INC-2026-002"])
    for bad in ("severity=SEV9", "from=March", "page=0", "per_page=500", "kind=outage"):
        response = client.get(f"/api/v1/postmortems?{bad}", headers=author_token)
        assert response.status_code == 400, bad
        assert response.json["error"]["errors"][0]["field"] == bad.split("=")[0]


def test_transitions_through_the_api(client, session, make_user, author_token):
    make_user("reviewer@x.example", role="author")
    _row, token = accounts.create_token(session, "reviewer@x.example", "test")
    session.commit()
    reviewer = {"Authorization": f"Bearer {token}"}
    doc = {
        "title": "Disk full on the log host",
        "severity": "SEV3",
        "started_at": "2026-05-01T10:00:00Z",
        "summary": "The log volume filled up.",
    }
    ref = client.post("/api/v1/postmortems", json=doc, headers=author_token).json["ref"]
    url = f"/api/v1/postmortems/{ref}/transitions"
    asked = client.post(
        url,
        json={"action": "request-review", "reviewers": ["reviewer@x.example"]},
        headers=author_token,
    )
    assert asked.status_code == 200 and asked.json["status"] == "in-review"
    own = client.post(url, json={"action": "approve"}, headers=author_token)
    assert own.status_code == 422 and "own" in own.json["error"]["message"]
    approved = client.post(url, json={"action": "approve"}, headers=reviewer)
    assert approved.status_code == 200 and approved.json["status"] == "published"
    assert approved.json["published_at"]
    bad = client.post(url, json={"action": "explode"}, headers=reviewer)
    assert bad.status_code == 400 and bad.json["error"]["errors"][0]["field"] == "action"


def test_the_openapi_description_matches_the_routes(app, client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    documented = set()
    for path, operations in spec["paths"].items():
        for method in operations:
            documented.add((method.upper(), path))
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", f"{{{arg}}}").replace(f"<int:{arg}>", f"{{{arg}}}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((method, path))
    assert served == documented


def test_schema_driven_fuzzing_finds_no_server_error(app, client, author_token, make_postmortem):
    """schemathesis generates requests from the OpenAPI description; none may get a 5xx, and
    every answer must be as described: a documented status, content type, headers and body."""
    import schemathesis

    make_postmortem(ref="INC-2026-001")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures = []
    for result in schema.get_all_operations():
        _fuzz(result.ok(), author_token, failures)
    assert failures == []


# CI runs a fixed sample (derandomised, so a red run is reproducible); set KB_FUZZ_EXAMPLES
# to explore further, with fresh random cases each run.
FUZZ_EXAMPLES = int(os.environ.get("KB_FUZZ_EXAMPLES", "30"))
DERANDOMIZE = "KB_FUZZ_EXAMPLES" not in os.environ


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _fuzz(operation, headers, failures):
    @settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=DERANDOMIZE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def fuzz(case):
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as exc:  # one failed check, or several
            failures.append(
                (
                    operation.label,
                    case.path_parameters,
                    case.query,
                    case.body,
                    response.status_code,
                    str(exc)[:2000],
                )
            )

    fuzz()
