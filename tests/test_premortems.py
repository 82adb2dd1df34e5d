"""Pre-mortems: the document format's fields, the links from incidents, and who sees them."""

import pytest
from sqlalchemy import create_engine, text

from kb import editing, migrations
from kb.document import DocumentError, to_document, validate
from tests.conftest import document

RISKS = [
    {
        "text": "The new connection pool exhausts the primary's connection limit",
        "likelihood": "medium",
        "impact": "high",
        "mitigation": "Cap the pool at 40 per pod and alert at 80% of max_connections",
        "owner": "platform",
        "signals": "pg_stat_activity above 400; checkout p99 above 2 s",
        "source": "INC-2026-004",
    },
    {"text": "Rollback takes longer than the maintenance window", "likelihood": "low"},
]


def premortem(**fields):
    """A valid published pre-mortem, with fields overridden."""
    doc = {
        "ref": "PM-2026-001",
        "title": "Move checkout to the new connection pooler",
        "kind": "pre-mortem",
        "status": "published",
        "teams": ["payments"],
        "services": ["checkout-api"],
        "trigger": "deploy",
        "planned_at": "2026-04-02T08:00:00Z",
        "published_at": "2026-03-30T16:00:00Z",
        "decision": "go-with-conditions",
        "change": "Replace the in-process pool with PgBouncer in transaction mode.",
        "rollback": "Flip the feature flag back; the old pool stays deployed for a week.",
        "risks": RISKS,
        "action_items": [{"title": "Cap the pool at 40 per pod", "owner": "platform", "risk": 1}],
    }
    doc.update(fields)
    return doc


def errors_of(doc):
    with pytest.raises(DocumentError) as info:
        validate(doc)
    return {e.field: e.message for e in info.value.errors}


def test_a_published_pre_mortem_needs_no_start_or_severity():
    doc = validate(premortem())
    assert doc["kind"] == "pre-mortem"
    assert doc["started_at"] is None and doc["severity"] is None
    assert doc["planned_at"].isoformat() == "2026-04-02T08:00:00+00:00"
    assert doc["risks"][0]["impact"] == "high"
    assert doc["risks"][1] == {
        "text": "Rollback takes longer than the maintenance window",
        "likelihood": "low",
        "impact": None,
        "mitigation": None,
        "owner": None,
        "signals": None,
        "source": None,
    }
    assert doc["action_items"][0]["risk"] == 1


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"decision": None}, "decision", "required once a pre-mortem is published"),
        ({"decision": "maybe"}, "decision", "go, go-with-conditions, no-go"),
        ({"planned_at": None}, "planned_at", "required once a pre-mortem is published"),
        ({"planned_at": "next Tuesday"}, "planned_at", "time zone"),
        ({"change": ""}, "change", "is required"),
        ({"premortem": "PM-2026-000"}, "premortem", "not covered by another pre-mortem"),
        ({"foreseen": [{"risk": 1}]}, "foreseen", "belongs to an incident"),
        ({"risks": [{"text": "ab"}]}, "risks[0].text", "at least 3"),
        ({"risks": [{"text": "x" * 2001}]}, "risks[0].text", "at most 2,000"),
        ({"risks": [{"text": "Disk fills", "likelihood": "huge"}]}, "risks[0].likelihood", "low"),
        ({"risks": [{"text": "Disk fills", "impact": 3}]}, "risks[0].impact", "low, medium"),
        ({"risks": [{"text": "Disk fills", "owner": "a\nb"}]}, "risks[0].owner", "one line"),
        ({"risks": [{"text": "Disk fills", "odds": 1}]}, "risks[0].odds", "not a field"),
        ({"risks": [{"text": "Disk fills"}] * 51}, "risks", "at most 50"),
        ({"action_items": [{"title": "Cap it", "risk": 3}]}, "action_items[0].risk", "1 to 2"),
        ({"action_items": [{"title": "Cap it", "risk": 0}]}, "action_items[0].risk", "1 to 2"),
        ({"action_items": [{"title": "Cap it", "risk": True}]}, "action_items[0].risk", "risk"),
    ],
)
def test_pre_mortem_rules(fields, field, words):
    errors = errors_of(premortem(**fields))
    assert field in errors, errors
    assert words in errors[field]


def test_a_draft_pre_mortem_may_be_incomplete():
    doc = validate({"title": "Upgrade Kafka", "kind": "pre-mortem", "risks": [{"text": ""}]})
    assert doc["risks"][0]["text"] == "" and doc["decision"] is None


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"decision": "go"}, "decision", "only a pre-mortem"),
        ({"planned_at": "2026-04-02T08:00:00Z"}, "planned_at", "only a pre-mortem"),
        ({"risks": RISKS}, "risks", "only a pre-mortem"),
        ({"foreseen": [{"risk": 1}]}, "foreseen", "needs the pre-mortem"),
        ({"premortem": "PM 1"}, "premortem", "ref of a pre-mortem"),
        ({"premortem": "PM-1", "foreseen": [{"risk": 0}]}, "foreseen[0].risk", "from 1"),
        ({"premortem": "PM-1", "foreseen": [{"risk": "1"}]}, "foreseen[0].risk", "from 1"),
        (
            {"premortem": "PM-1", "foreseen": [{"risk": 1}, {"risk": 1}]},
            "foreseen[1].risk",
            "listed twice",
        ),
        (
            {"premortem": "PM-1", "foreseen": [{"risk": 1, "materialised": "maybe"}]},
            "foreseen[0].materialised",
            "yes or no",
        ),
        ({"action_items": [{"title": "Stage it", "risk": 1}]}, "action_items[0].risk", "none"),
    ],
)
def test_incident_rules(fields, field, words):
    errors = errors_of(document(**fields))
    assert field in errors, errors
    assert words in errors[field]


def test_an_incident_names_its_pre_mortem_and_what_materialised():
    doc = validate(
        document(
            premortem="PM-2026-001",
            foreseen=[
                {"risk": 2, "materialised": "no", "note": "rolled back in 4 min"},
                {"risk": 1},
            ],
        )
    )
    assert doc["premortem"] == "PM-2026-001"
    assert doc["foreseen"] == [
        {"risk": 2, "materialised": "no", "note": "rolled back in 4 min"},
        {"risk": 1, "materialised": "yes", "note": None},
    ]


def test_the_stored_pre_mortem_is_its_document(session):
    from kb import postmortems

    pm, _ = postmortems.save_document(session, validate(premortem()))
    session.commit()
    again = to_document(pm)
    assert validate(again)["risks"] == validate(premortem())["risks"]
    assert again["action_items"][0]["risk"] == 1
    assert again["planned_at"] == "2026-04-02T08:00:00Z"
    assert again["decision"] == "go-with-conditions"


def _save(session, doc):
    from kb import postmortems

    pm, _ = postmortems.save_document(session, validate(doc))
    session.commit()
    return pm


def test_a_person_may_name_only_a_pre_mortem_they_may_read(session, make_user):
    author = make_user("author@brightcart.example", role="author", teams=["search"])
    _save(session, premortem(visibility="restricted", teams=["payments"]))
    _save(session, premortem(ref="PM-2026-002", teams=["search"]))
    _save(session, document(ref="INC-2026-050"))
    for ref, words in (
        ("PM-2026-001", "names no pre-mortem you may read"),  # restricted to payments
        ("PM-2026-404", "names no pre-mortem you may read"),
        ("INC-2026-050", "names no pre-mortem you may read"),  # not a pre-mortem
    ):
        with pytest.raises(DocumentError) as info:
            editing.create(session, {"title": "Checkout slow", "premortem": ref}, author)
        assert [(e.field, e.message) for e in info.value.errors] == [("premortem", words)]
    session.rollback()
    with pytest.raises(DocumentError) as info:
        editing.create(
            session,
            {"title": "Checkout slow", "premortem": "pm-2026-002", "foreseen": [{"risk": 3}]},
            author,
        )
    assert str(info.value) == "foreseen[0].risk: PM-2026-002 has no risk 3 (it lists 2)"
    session.rollback()
    pm, _ = editing.create(
        session,
        {"title": "Checkout slow", "premortem": "pm-2026-002", "foreseen": [{"risk": 2}]},
        author,
    )
    session.commit()
    assert pm.premortem == "PM-2026-002"  # spelt as the pre-mortem's ref


def test_a_link_to_an_unreadable_pre_mortem_stays_on_other_edits(session, make_user):
    reader = make_user("author@brightcart.example", role="author", teams=["search"])
    _save(session, premortem(visibility="restricted", teams=["payments"]))
    pm = _save(
        session,
        document(
            ref="INC-2026-051",
            status="draft",
            teams=["search"],
            premortem="PM-2026-001",
            foreseen=[{"risk": 1}],
        ),
    )
    raw = {**to_document(pm), "title": "Checkout slow after the pooler"}
    pm, changed, refused = editing.save_draft(session, pm, raw, reader, base_version=pm.version)
    assert changed and refused == [] and pm.premortem == "PM-2026-001"
    raw = {**to_document(pm), "foreseen": [{"risk": 2}]}  # a change: checked, and refused
    pm, changed, refused = editing.save_draft(session, pm, raw, reader, base_version=pm.version)
    assert [e.field for e in refused] == ["premortem"]
    assert pm.foreseen == [{"risk": 1, "materialised": "yes", "note": None}]


PREMORTEM_COLUMNS = "SELECT planned_at, change, rollback, decision, premortem, risks, foreseen"


def test_migration_0020_gives_existing_rows_the_new_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrations.upgrade("0019", url=url)
    engine = create_engine(url)
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO postmortem (id, ref, title, kind, status, visibility, trigger, "
                "summary, impact, detection, response, went_well, went_poorly, got_lucky, "
                "surprises, lessons, notes, timeline, links, version, created_at, updated_at) "
                "VALUES (1, 'INC-2026-001', 'Cache stampede', 'incident', 'draft', 'internal', "
                "'unknown', '', '', '', '', '', '', '', '', '', '', '[]', '[]', 1, "
                "'2026-03-02 09:00:00', '2026-03-02 09:00:00')"
            )
        )
        db.execute(
            text(
                "INSERT INTO actionitem (postmortem_id, position, title, status) "
                "VALUES (1, 0, 'Add jitter', 'open')"
            )
        )
    migrations.upgrade("head", url=url)
    with engine.connect() as db:
        row = db.execute(text(PREMORTEM_COLUMNS + " FROM postmortem")).one()
        assert tuple(row) == (None, "", "", None, None, "[]", "[]")
        assert db.execute(text("SELECT risk FROM actionitem")).scalar_one() is None
    migrations.downgrade("0019", url=url)
    with engine.connect() as db:
        assert db.execute(text("SELECT title FROM postmortem")).scalar_one() == "Cache stampede"
    engine.dispose()


# --- the editor and the pages -------------------------------------------------------------


@pytest.fixture
def author(make_user, login):
    user = make_user("author@brightcart.example", role="author", teams=["payments"])
    login(user)
    return user


def _edit(client, ref, **changes):
    from tests.test_editor import form_of

    data = form_of(client, ref)
    data.update(changes)
    return client.post(f"/postmortems/{ref}/edit", data=data)


def _stored(session, ref):
    from kb import postmortems

    session.expire_all()
    return postmortems.get(session, ref, None)


def test_the_pre_mortem_editor_shows_its_own_fields(client, author, session):
    _save(session, premortem(status="draft", published_at=None, decision=None))
    page = client.get("/postmortems/PM-2026-001/edit").get_data(as_text=True)
    for words in (
        "Imagine it failed: how?",
        'name="risk-0-text"',
        'name="risk-1-likelihood"',
        'name="decision"',
        'name="planned_at"',
        "Kind of change",
        "The planned change",
        "Rollback plan",
        'data-radar-ref="PM-2026-001"',
        'data-radar-form="editor" data-radar-add',
        'name="action-0-risk"',
        "premortem.js",
    ):
        assert words in page, words
    for words in (
        'name="severity"',
        'name="started_at"',
        'name="timeline-0-text"',
        'name="impact"',
    ):
        assert words not in page, words
    assert 'name="premortem"' not in page  # a pre-mortem is not covered by another one


def test_a_mitigation_becomes_one_action_item(client, author, session):
    _save(session, premortem(status="draft", published_at=None, action_items=[]))
    response = _edit(
        client,
        "PM-2026-001",
        **{
            "risk-2-text": "The cache goes cold",
            "risk-2-mitigation": "Warm the cache before the switch",
            "risk-2-owner": "platform",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    pm = _stored(session, "PM-2026-001")
    assert [(a.title, a.owner, a.risk) for a in pm.action_items] == [
        ("Cap the pool at 40 per pod and alert at 80% of max_connections", "platform", 1),
        ("Warm the cache before the switch", "platform", 3),
    ]
    version = pm.version
    response = _edit(client, "PM-2026-001", **{"risk-2-mitigation": "Warm the cache twice"})
    assert response.status_code == 302
    pm = _stored(session, "PM-2026-001")
    assert [a.risk for a in pm.action_items] == [1, 3]  # linked already: not added again
    assert pm.version == version + 1
    page = client.get("/postmortems/PM-2026-001").get_data(as_text=True)
    assert "mitigates risk 3" in page


def test_add_as_risk_without_javascript(client, author, session):
    _save(session, premortem(status="draft", published_at=None))
    response = _edit(
        client,
        "PM-2026-001",
        add_risk="Theme: Expired certificates\tAn intermediate certificate expires mid-rollout",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    pm = _stored(session, "PM-2026-001")
    assert pm.risks[-1]["text"] == "An intermediate certificate expires mid-rollout"
    assert pm.risks[-1]["source"] == "Theme: Expired certificates"
    assert len(pm.risks) == 3


def test_fields_of_another_kind_survive_an_edit(client, author, session):
    _save(session, premortem(status="draft", published_at=None, summary="Kept as it was"))
    assert _edit(client, "PM-2026-001", title="Move checkout to PgBouncer").status_code == 302
    pm = _stored(session, "PM-2026-001")
    assert (pm.title, pm.summary) == ("Move checkout to PgBouncer", "Kept as it was")


def test_an_incident_names_its_pre_mortem_and_says_what_happened(client, author, session):
    _save(session, premortem())
    _save(
        session,
        premortem(
            ref="PM-2026-002", title="Secret migration", visibility="restricted", teams=["security"]
        ),
    )
    _save(session, document(ref="INC-2026-060", status="draft", published_at=None))
    page = client.get("/postmortems/INC-2026-060/edit").get_data(as_text=True)
    assert '<option value="PM-2026-001">' in page
    assert "PM-2026-002" not in page and "Secret migration" not in page
    assert 'name="risks' not in page and 'name="decision"' not in page

    response = _edit(client, "INC-2026-060", premortem="pm-2026-001")
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get("/postmortems/INC-2026-060/edit").get_data(as_text=True)
    assert 'name="foreseen-0-materialised"' in page and RISKS[1]["text"] in page
    response = _edit(
        client,
        "INC-2026-060",
        **{"foreseen-0-materialised": "yes", "foreseen-0-note": "max_connections hit at 09:02"},
    )
    assert response.status_code == 302
    pm = _stored(session, "INC-2026-060")
    assert pm.premortem == "PM-2026-001"
    assert pm.foreseen == [
        {"risk": 1, "materialised": "yes", "note": "max_connections hit at 09:02"}
    ]

    page = client.get("/postmortems/INC-2026-060").get_data(as_text=True)
    assert "Covered by pre-mortem" in page and "max_connections hit at 09:02" in page
    page = client.get("/postmortems/PM-2026-001").get_data(as_text=True)
    assert "What happened after" in page and "INC-2026-060" in page
    assert RISKS[0]["signals"] in page and "medium × high" in page

    refused = _edit(client, "INC-2026-060", premortem="PM-2026-002")
    assert refused.status_code == 200
    assert "names no pre-mortem you may read" in refused.get_data(as_text=True)
    assert _stored(session, "INC-2026-060").premortem == "PM-2026-001"


def test_what_a_reader_may_not_read_never_shows(client, make_user, login, session):
    """A restricted pre-mortem: not in suggestions, no "covered by" line; a restricted
    incident: not under "What happened after"."""
    _save(
        session,
        premortem(
            ref="PM-2026-010",
            title="Rotate the HSM keys",
            visibility="restricted",
            teams=["security"],
        ),
    )
    _save(session, premortem(ref="PM-2026-011", title="Open pooler migration"))
    _save(
        session,
        document(
            ref="INC-2026-070",
            title="Open incident",
            premortem="PM-2026-010",
            foreseen=[{"risk": 1}],
        ),
    )
    _save(
        session,
        document(
            ref="INC-2026-071",
            title="Hidden incident",
            visibility="restricted",
            teams=["security"],
            premortem="PM-2026-011",
            foreseen=[{"risk": 2, "materialised": "no"}],
        ),
    )
    _save(
        session,
        document(
            ref="INC-2026-072",
            title="Visible incident",
            premortem="PM-2026-011",
            foreseen=[{"risk": 2, "materialised": "no"}],
        ),
    )
    login(make_user("reader@brightcart.example", role="author", teams=["payments"]))

    incident = client.get("/postmortems/INC-2026-070").get_data(as_text=True)
    assert "PM-2026-010" not in incident and "Rotate the HSM keys" not in incident
    assert "Covered by pre-mortem" not in incident
    editor = client.get("/postmortems/INC-2026-072/edit").get_data(as_text=True)
    assert "PM-2026-010" not in editor and "Rotate the HSM keys" not in editor
    hidden = client.get("/postmortems/INC-2026-070/edit").get_data(as_text=True)
    assert "PM-2026-010" not in hidden and "may not read" in hidden
    after = client.get("/postmortems/PM-2026-011").get_data(as_text=True)
    assert "INC-2026-072" in after and "Visible incident" in after
    assert "INC-2026-071" not in after and "Hidden incident" not in after
    assert "this was not foreseen" in after

    # Saving the incident whose pre-mortem the writer may not read keeps the link.
    response = _edit(client, "INC-2026-070", title="Open incident, renamed", note="renamed")
    assert response.status_code == 302, response.get_data(as_text=True)
    pm = _stored(session, "INC-2026-070")
    assert (pm.title, pm.premortem, len(pm.foreseen)) == (
        "Open incident, renamed",
        "PM-2026-010",
        1,
    )


def test_a_new_pre_mortem_gets_a_pm_ref(client, author, session):
    from tests.test_editor import _token

    response = client.post(
        "/postmortems/new",
        data={"title": "Upgrade Kafka to 3.7", "kind": "pre-mortem", "csrf_token": _token(client)},
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/postmortems/PM-")


# --- import and export ----------------------------------------------------------------------


def test_markdown_and_json_exports_read_back_to_the_same_pre_mortem(runner, session, tmp_path):
    from kb.export_markdown import to_markdown
    from kb.importers.markdown import read_markdown
    from kb.models import Postmortem

    tricky = {**RISKS[0], "text": "Pipes | and *stars* in a risk\nover two lines"}
    pm = _save(session, premortem(risks=[tricky, RISKS[1]], summary="A summary, kept."))
    incident = _save(
        session,
        document(
            ref="INC-2026-080",
            premortem="PM-2026-001",
            foreseen=[{"risk": 2, "materialised": "no", "note": "rolled back | in time"}],
        ),
    )
    for stored in (pm, incident):
        text = to_markdown(stored)
        found = read_markdown(text, name=f"{stored.ref}.md")
        assert found.problems == [], found.problems
        assert validate(found.document) == validate(to_document(stored)), text
    md = to_markdown(pm)
    assert "## Imagine it failed: how?" in md and "| Mitigates risk |" in md
    assert "decision: go-with-conditions" in md and "planned_at:" in md

    first, second = tmp_path / "first", tmp_path / "second"
    assert runner.invoke(args=["export", str(first)]).exit_code == 0
    for table in ("revision", "actionitem", "factor", "label", "change", "auditevent"):
        session.exec(Postmortem.metadata.tables[table].delete())
    session.exec(Postmortem.__table__.delete())
    session.commit()
    imported = runner.invoke(args=["import", str(first)])
    assert imported.exit_code == 0, imported.output
    assert runner.invoke(args=["export", str(second)]).exit_code == 0
    names = sorted(p.name for p in first.iterdir())
    assert names == ["INC-2026-080.json", "PM-2026-001.json"]
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_an_incident_s_risks_heading_stays_prose():
    from kb.importers.markdown import read_markdown

    found = read_markdown(
        "# Disk full on the log host\n\n## Summary\n\nThe disk filled.\n\n"
        "## Risks\n\n- It could happen again on the other hosts.\n"
    )
    doc = validate(found.document)
    assert doc["risks"] == [] and "other hosts" in (doc["notes"] + doc["summary"])


# --- search and the API ---------------------------------------------------------------------


def test_search_finds_a_pre_mortem_by_its_risks_and_its_kind(app, session):
    from kb.search.service import service_for

    _save(session, premortem(change="Replace the in-process pool with PgBouncer."))
    _save(session, document(ref="INC-2026-090", title="Connection storms on the primary"))
    with app.app_context():
        service = service_for(app)
        found = service.search(None, "max_connections")
        assert [h.ref for h in found.hits] == ["PM-2026-001"]
        assert found.hits[0].passage.section == "risks"
        assert [h.ref for h in service.search(None, "pgbouncer").hits] == ["PM-2026-001"]
        kinds = service.search(None, "kind:pre-mortem")
        assert [h.ref for h in kinds.hits] == ["PM-2026-001"]
        facet = next(f for f in service.search(None, "").facets if f.field == "kind")
        assert ("pre-mortem", 1) in [(v.value, v.count) for v in facet.values]


def test_the_api_lists_pre_mortems_and_describes_their_fields(client, session, make_user):
    from kb import accounts

    make_user("reader@brightcart.example", role="reader")
    _row, token = accounts.create_token(session, "reader@brightcart.example", "test")
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    _save(session, premortem())
    _save(session, document(ref="INC-2026-091"))
    listed = client.get("/api/v1/postmortems?kind=pre-mortem", headers=headers)
    assert listed.status_code == 200, listed.json
    assert [p["ref"] for p in listed.json["items"]] == ["PM-2026-001"]
    one = client.get("/api/v1/postmortems/PM-2026-001", headers=headers).json
    assert one["risks"][0]["likelihood"] == "medium" and one["decision"] == "go-with-conditions"
    spec = client.get("/api/v1/openapi.json").json
    schema = spec["components"]["schemas"]["Document"]["properties"]
    assert schema["kind"]["enum"][-1] == "pre-mortem"
    assert schema["decision"]["enum"][:3] == ["go", "go-with-conditions", "no-go"]
    assert set(schema["risks"]["items"]["properties"]) == {
        "text",
        "likelihood",
        "impact",
        "mitigation",
        "owner",
        "signals",
        "source",
    }
    assert schema["foreseen"]["items"]["properties"]["materialised"]["enum"] == ["yes", "no"]
    assert {"premortem", "planned_at"} <= set(schema)


def test_mitigations_never_push_action_items_past_the_format_s_limit():
    from kb.premortems import with_mitigation_actions

    doc = validate(
        premortem(
            status="draft",
            published_at=None,
            risks=[{"text": f"Risk {n}", "mitigation": f"Mitigate {n}"} for n in range(1, 51)],
            action_items=[{"title": f"Item {n}"} for n in range(97)],
        )
    )
    done = with_mitigation_actions(doc)
    assert [a["risk"] for a in done["action_items"][97:]] == [1, 2, 3]
    from kb.document import canonical

    assert canonical(validate(canonical(done))) == canonical(done)  # within the format
    assert with_mitigation_actions(done) == done


def test_the_history_compares_risks(client, author, session):
    pm = _save(session, premortem(status="draft", published_at=None))
    response = _edit(client, "PM-2026-001", **{"risk-1-likelihood": "high"})
    assert response.status_code == 302
    page = client.get(
        f"/postmortems/PM-2026-001/revisions/compare?a={pm.version}&b={pm.version + 1}"
    )
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Imagine it failed: how?" in text and "likelihood" in text


def test_the_api_and_the_history_never_name_a_pre_mortem_the_caller_may_not_read(
    client, session, make_user, login
):
    from kb import accounts

    _save(session, premortem(ref="PM-2026-020", visibility="restricted", teams=["security"]))
    _save(
        session,
        document(
            ref="INC-2026-095",
            status="draft",
            published_at=None,
            teams=["payments"],
            premortem="PM-2026-020",
            foreseen=[{"risk": 1}],
        ),
    )
    make_user("author@brightcart.example", role="author", teams=["payments"])
    _row, token = accounts.create_token(session, "author@brightcart.example", "test")
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    got = client.get("/api/v1/postmortems/INC-2026-095", headers=headers).json
    assert got["premortem"] is None and got["foreseen"] == []
    put = client.put(
        "/api/v1/postmortems/INC-2026-095",
        json={**got, "title": "Renamed through the API"},
        headers=headers,
    )
    assert put.status_code == 200, put.json
    assert "PM-2026-020" not in put.get_data(as_text=True)
    pm = _stored(session, "INC-2026-095")
    assert (pm.title, pm.premortem) == ("Renamed through the API", "PM-2026-020")
    revision = client.get("/api/v1/postmortems/INC-2026-095/revisions/1", headers=headers)
    assert "PM-2026-020" not in revision.get_data(as_text=True)

    login(make_user("colleague@brightcart.example", role="author", teams=["payments"]))
    page = client.get("/postmortems/INC-2026-095/revisions/compare?a=1&b=2")
    assert page.status_code == 200 and "PM-2026-020" not in page.get_data(as_text=True)


def test_naming_another_pre_mortem_or_none_drops_the_old_answers(client, author, session):
    _save(session, premortem())
    _save(session, premortem(ref="PM-2026-003", risks=[{"text": "Only one risk here"}]))
    _save(
        session,
        document(
            ref="INC-2026-096",
            status="draft",
            published_at=None,
            premortem="PM-2026-001",
            foreseen=[{"risk": 2, "materialised": "yes"}],
        ),
    )
    assert _edit(client, "INC-2026-096", premortem="PM-2026-003").status_code == 302
    pm = _stored(session, "INC-2026-096")
    assert (pm.premortem, pm.foreseen) == ("PM-2026-003", [])
    assert _edit(client, "INC-2026-096", premortem="").status_code == 302
    pm = _stored(session, "INC-2026-096")
    assert (pm.premortem, pm.foreseen) == (None, [])


@pytest.mark.parametrize("fmt", ["jsonl", "json", "markdown"])
def test_an_export_as_a_user_never_names_a_pre_mortem_they_may_not_read(
    runner, session, make_user, tmp_path, fmt
):
    _save(session, premortem(ref="PM-2026-021", visibility="restricted", teams=["security"]))
    _save(session, document(ref="INC-2026-096", premortem="PM-2026-021", foreseen=[{"risk": 1}]))
    make_user("reader@brightcart.example", teams=["payments"])
    make_user("member@brightcart.example", teams=["security"])
    for email, allowed in (
        ("reader@brightcart.example", False),
        ("member@brightcart.example", True),
    ):
        dest = tmp_path / email / ("all.jsonl" if fmt == "jsonl" else "out")
        args = ["export", "--as-user", email, str(dest)]
        if fmt == "markdown":
            args[1:1] = ["--format", "markdown"]
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        files = [dest] if fmt == "jsonl" else sorted(dest.glob("*.*"))
        written = "".join(f.read_text() for f in files if f.is_file())
        assert "INC-2026-096" in written
        assert ("PM-2026-021" in written) is allowed, email
