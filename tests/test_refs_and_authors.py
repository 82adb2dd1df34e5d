"""Refs and authors as organisations write them: INC-123 and OPS-4521 kept in their case and
unique ignoring it; authors named by name, linked to the user they name."""

import pytest
from sqlalchemy.exc import IntegrityError

from kb import accounts, postmortems, transfer
from kb.models import Postmortem
from tests.conftest import document


def test_a_ref_is_kept_as_written_and_found_in_any_case(session, make_postmortem):
    make_postmortem(ref="OPS-4521")
    found = postmortems.get(session, "ops-4521", None)
    assert found is not None and found.ref == "OPS-4521"
    report = transfer.import_records(
        session, [transfer.Record("x", None, data=document(ref="ops-4521", title="Renamed"))]
    )
    session.commit()
    assert (report.updated, report.created) == (1, 0)
    rows = session.exec(Postmortem.__table__.select()).all()
    assert [(r.ref, r.title) for r in rows] == [("OPS-4521", "Renamed")]


def test_the_database_refuses_two_refs_that_differ_only_in_case(session, make_postmortem):
    make_postmortem(ref="INC-123")
    session.add(Postmortem(ref="inc-123", title="A second one"))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_authors_named_by_name_are_linked_to_their_user(session, make_user, make_postmortem):
    priya = make_user("priya@example.com", role="author")
    priya.name = "Priya Natarajan"
    session.commit()
    pm = make_postmortem(
        ref="INC-77",
        visibility="restricted",
        teams=[],
        authors=["priya natarajan", "Sam from the vendor", "PRIYA@example.com"],
    )
    assert pm.label_values("authors") == ["priya@example.com", "Sam from the vendor"]
    assert accounts.may_see(priya, pm)  # linked: a restricted postmortem's author reads it
    outsider = make_user("sam@example.com")
    assert not accounts.may_see(outsider, pm)  # a name that is no user links to nobody


def test_a_bare_ref_in_a_search_means_that_postmortem(app, session, make_user, make_postmortem):
    from kb.search.service import service_for

    make_postmortem(ref="OPS-4521", title="Queue backlog in billing")
    make_postmortem(ref="INC-2026-002", title="Another queue backlog")
    session.commit()
    admin = make_user("admin@example.com", role="admin")
    with app.app_context():
        service_for(app).syncer.run_once()
        result = service_for(app).search(admin, "OPS-4521")
    assert [hit.ref for hit in result.hits] == ["OPS-4521"]
