"""The document format's one field table: everything that lists fields derives from it, and
the OpenAPI schema derived from it describes the documents validation accepts and returns."""

import pytest
from jsonschema_rs import Draft4Validator

from kb import diff, seed
from kb.document import DocumentError, canonical, validate
from kb.document_format import (
    DOCUMENT,
    FIELDS,
    LABEL_FIELDS,
    LIST_LIMITS,
    ROWS,
    document_schema,
)
from kb.models import KINDS, SECTIONS, SEVERITIES, STATUSES, TIMESTAMPS, TRIGGERS, VISIBILITIES
from kb.transfer import read_records
from kb.web import api, postmortem_form
from tests.conftest import document


def _json_schema(schema):
    """OpenAPI 3.0's `nullable` written as JSON Schema's null type, recursively."""
    if isinstance(schema, list):
        return [_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _json_schema(value) for key, value in schema.items() if key != "nullable"}
    if schema.get("nullable"):
        out["type"] = [schema["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


VALIDATOR = Draft4Validator(_json_schema(document_schema()))


def test_the_field_lists_are_the_tables():
    assert FIELDS[0] == "format" and len(FIELDS) == len(set(FIELDS))
    assert set(LABEL_FIELDS) == {"readers", "authors", "teams", "services", "tags"}
    assert postmortem_form.NAME_LISTS == LABEL_FIELDS
    assert postmortem_form.LIST_FIELDS == ROWS
    assert set(postmortem_form.SCALARS) | set(LABEL_FIELDS) | set(SECTIONS) | set(ROWS) | {
        "format",
        "ref",
        "status",
        *TIMESTAMPS,
    } == set(FIELDS)


def test_the_schema_takes_its_values_from_the_models():
    fields = document_schema()["properties"]
    assert fields["trigger"]["enum"] == list(TRIGGERS)
    assert fields["visibility"]["enum"] == list(VISIBILITIES)
    assert fields["kind"]["enum"] == list(KINDS)
    assert fields["status"]["enum"] == list(STATUSES)
    assert fields["severity"]["enum"] == list(SEVERITIES)
    assert list(fields) == list(FIELDS)


def test_the_diff_compares_every_field():
    """Two documents that differ in every field: the diff names each one (but the format
    and the ref, which a revision never changes)."""
    old = validate(document(status="draft", published_at=None))
    new = validate(
        document(
            status="in-review",
            published_at=None,
            title="Another title entirely",
            kind="near-miss",
            severity="SEV1",
            visibility="restricted",
            readers=["r@x.example"],
            authors=["a@x.example"],
            teams=["search"],
            services=["indexer"],
            tags=["tls"],
            trigger="deploy",
            started_at="2026-03-02T09:00:00Z",
            detected_at="2026-03-02T09:30:00Z",
            mitigated_at="2026-03-02T10:00:00Z",
            resolved_at="2026-03-02T11:00:00Z",
            **{section: f"New words for {section}." for section in SECTIONS},
            timeline=[{"at": "2026-03-02T09:00:00Z", "text": "It began."}],
            contributing_factors=[{"text": "Another factor altogether."}],
            action_items=[{"title": "Another action"}],
            links=[{"title": "Runbook", "url": "https://example.com/runbook"}],
        )
    )
    new["published_at"] = old["published_at"] = None
    changed = {d.field for d in diff.compare(canonical(old), canonical(new))}
    # A pre-mortem's fields, and an incident's link to one, differ in a pair of their own.
    linked = validate(document(status="draft", published_at=None, premortem="PM-7"))
    linked["foreseen"] = [{"risk": 1, "materialised": "yes", "note": None}]
    changed |= {d.field for d in diff.compare(canonical(old), canonical(linked))}
    plan = {"title": "Move the queue", "kind": "pre-mortem"}
    planned = {
        **plan,
        "decision": "go",
        "planned_at": "2026-04-02T08:00:00Z",
        "risks": [{"text": "The queue drops messages"}],
        "action_items": [{"title": "Drain first", "risk": 1}],
    }
    old_plan, new_plan = (canonical(validate(d)) for d in (plan, planned))
    changed |= {d.field for d in diff.compare(old_plan, new_plan)}
    assert changed == set(FIELDS) - {"format", "ref", "published_at"}


def test_every_seed_document_matches_the_schema():
    records = list(read_records(seed.SEED_DIR / "postmortems"))
    assert len(records) >= 30
    for record in records:
        doc = canonical(validate(record.data))
        errors = [e.message for e in VALIDATOR.iter_errors(doc)]
        assert errors == [], record.where


def test_an_incomplete_draft_matches_the_schema():
    """A draft's rows may lack what a published postmortem needs: null times and addresses."""
    doc = canonical(
        validate(
            {
                "title": "Half written",
                "timeline": [{"text": "something happened"}],
                "contributing_factors": [{}],
                "action_items": [{}],
                "links": [{"title": "to be found"}],
            }
        )
    )
    assert doc["timeline"][0]["at"] is None and doc["links"][0]["url"] is None
    assert [e.message for e in VALIDATOR.iter_errors(doc)] == []


def test_the_schema_refuses_what_validation_refuses():
    for bad in ({"title": "ok title", "colour": "red"}, {"title": "ok title", "trigger": "moon"}):
        assert list(VALIDATOR.iter_errors(bad))
        with pytest.raises(DocumentError):
            validate(bad)


@pytest.mark.parametrize("field", LABEL_FIELDS)
def test_list_limits_come_from_the_table(field):
    limit = LIST_LIMITS[field]
    value = [
        f"n{i}@x.example" if field in ("readers", "authors") else f"n{i}" for i in range(limit)
    ]
    assert validate(document(**{field: value}))[field] == value
    with pytest.raises(DocumentError) as caught:
        validate(document(**{field: [*value, "one@more.example"]}))
    assert str(caught.value) == f"{field}: must have at most {limit} entries (got {limit + 1})"


def test_row_columns_come_from_the_table():
    # Risks are a pre-mortem's; foreseen risks name a pre-mortem, and a risk by number.
    context = {"risks": {"kind": "pre-mortem"}, "foreseen": {"premortem": "PM-1"}}
    for rows, columns in ROWS.items():
        row = dict.fromkeys(columns) | ({"risk": 1} if rows == "foreseen" else {})
        row["extra"] = "x"
        with pytest.raises(DocumentError) as caught:
            validate(
                document(
                    status="draft", published_at=None, **context.get(rows, {}), **{rows: [row]}
                )
            )
        assert str(caught.value) == f"{rows}[0].extra: is not a field of this format"


def test_canonical_follows_the_table_order():
    doc = canonical(validate(document()))
    assert list(doc) == list(FIELDS)
    assert {f.name for f in DOCUMENT if f.kind == "rows"} == set(ROWS)


def test_list_filters_accept_what_they_describe(client, session, make_user):
    """Each declared query parameter of the list: every value its description allows is
    accepted, a value outside it is refused with a 400 naming the parameter."""
    from kb import accounts

    make_user("reader@x.example")
    _row, token = accounts.create_token(session, "reader@x.example", "test")
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    for query in api.LIST_FILTERS:
        described = query.openapi()
        assert described["in"] == "query" and described["name"] == query.name
        schema = described["schema"]
        if "enum" in schema:
            good, bad = schema["enum"], ["not-a-" + query.name]
        elif schema["type"] == "integer":
            good = [schema["minimum"], schema["maximum"]]
            bad = [schema["minimum"] - 1, schema["maximum"] + 1]
        elif "YYYY" in schema.get("description", ""):
            good, bad = ["2026-03", "2026-03-02"], ["March"]
        else:
            good, bad = ["anything"], []
        for value in good:
            response = client.get(f"/api/v1/postmortems?{query.name}={value}", headers=headers)
            assert response.status_code == 200, (query.name, value, response.json)
        for value in bad:
            response = client.get(f"/api/v1/postmortems?{query.name}={value}", headers=headers)
            assert response.status_code == 400, (query.name, value)
            assert response.json["error"]["errors"][0]["field"] == query.name
