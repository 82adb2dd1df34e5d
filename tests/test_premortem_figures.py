"""Pre-mortems in the figures and the digest: how many, the incidents that came after them,
and the share a listed risk foresaw, counted through the reader's visibility."""

import json
from datetime import date

import pytest
from sqlmodel import select

from kb import postmortems
from kb.digest import render
from kb.digest.compose import compose
from kb.document import to_document, validate
from kb.insights import dashboard, kpis
from kb.models import Postmortem
from tests.test_premortems import premortem
from tests.test_visibility import PEOPLE

MARCH = date(2026, 3, 1)
NO_INCIDENT = dict.fromkeys(
    ("started_at", "detected_at", "mitigated_at", "resolved_at", "severity")
)


def _premortem(**fields):
    """A published pre-mortem, without the incident fields of the default test document."""
    return premortem(**NO_INCIDENT, contributing_factors=[], **fields)


@pytest.fixture
def history(make_postmortem):
    """Two published pre-mortems planned in March, one of them restricted to the platform
    team, and the incidents of March that name them."""
    make_postmortem(
        **_premortem(
            ref="PM-1",
            title="Move checkout to the new connection pooler",
            planned_at="2026-03-01T08:00:00Z",
            published_at="2026-03-01T07:00:00Z",
        )
    )
    make_postmortem(
        **_premortem(
            ref="PM-2",
            title="Rotate the platform's signing keys",
            teams=["platform"],
            visibility="restricted",
            planned_at="2026-03-03T08:00:00Z",
            published_at="2026-03-02T07:00:00Z",
        )
    )
    make_postmortem(
        ref="INC-A",
        title="Checkout pool exhausted the primary's connections",
        premortem="pm-1",  # refs are matched ignoring case
        foreseen=[{"risk": 1, "materialised": "yes"}, {"risk": 2, "materialised": "no"}],
    )
    make_postmortem(
        ref="INC-B",
        title="Checkout latency after the pooler move",
        premortem="PM-1",
        foreseen=[{"risk": 1, "materialised": "no"}],
    )
    make_postmortem(ref="INC-C", title="Checkout errors with no pre-mortem behind them")
    make_postmortem(
        ref="INC-D",
        title="Signing keys rotated before the caches expired",
        premortem="PM-2",
        foreseen=[{"risk": 1, "materialised": "yes"}],
    )


@pytest.fixture
def reader(make_user):
    return make_user("reader@x.example", role="reader", teams=["payments"])


def _board(session, user):
    return dashboard.dashboard(session, user, MARCH, MARCH, today=date(2026, 4, 30))


def test_the_dashboard_counts_pre_mortems_and_what_they_foresaw(history, session, reader):
    everything = _board(session, None).months[0]
    assert (everything.premortems, everything.after_premortem, everything.foreseen) == (2, 3, 2)
    # The reader may not read PM-2 (restricted to platform): neither it nor the incident that
    # names it counts as "after a pre-mortem", so nothing tells them it exists.
    month = _board(session, reader).months[0]
    assert (month.premortems, month.after_premortem, month.foreseen) == (1, 2, 1)
    assert month.foreseen_share == 0.5
    assert month.by_kind["pre-mortem"] == 1 and month.incidents == 4


def test_the_digest_figures_agree_with_the_dashboard(history, session, reader):
    for user in (None, reader):
        month = _board(session, user).months[0]
        figures = kpis.month_figures(session, user, MARCH)
        assert (figures.premortems, figures.after_premortem, figures.foreseen) == (
            month.premortems,
            month.after_premortem,
            month.foreseen,
        )


def test_the_dashboard_follows_a_pre_mortem_unpublished_and_published_again(
    history, session, reader
):
    assert _board(session, reader).months[0].after_premortem == 2
    pm = session.exec(select(Postmortem).where(Postmortem.ref == "PM-1")).one()
    doc = to_document(pm)
    postmortems.save_document(session, validate({**doc, "status": "draft"}))
    session.commit()
    month = _board(session, reader).months[0]
    assert (month.premortems, month.after_premortem, month.foreseen) == (0, 0, 0)
    postmortems.save_document(session, validate({**doc, "status": "published"}))
    session.commit()
    month = _board(session, reader).months[0]
    assert (month.premortems, month.after_premortem, month.foreseen) == (1, 2, 1)


def test_the_figures_api_and_csv_carry_the_pre_mortem_figures(history, client, login, reader):
    login(reader)
    answer = client.get("/api/v1/figures?from=2026-03&to=2026-03").get_json()
    assert answer["premortems"] == {
        "premortems": 1,
        "after_premortem": 2,
        "foreseen": 1,
        "foreseen_share": 0.5,
    }
    assert answer["months"][0]["foreseen_by_premortem"] == 1
    csv = client.get("/figures.csv?from=2026-03&to=2026-03").get_data(as_text=True)
    header, row = csv.splitlines()
    values = dict(zip(header.split(","), row.split(","), strict=True))
    assert (values["premortems"], values["after_premortem"], values["foreseen_share"]) == (
        "1",
        "2",
        "0.5",
    )
    page = client.get("/figures?from=2026-03&to=2026-03").get_data(as_text=True)
    assert "incidents after a pre-mortem" in page and "Rotate the platform" not in page


def test_the_digest_anticipates_failure_through_visibility(history, app, session, reader):
    with app.test_request_context():
        digest, everyone = compose(session, reader, MARCH), compose(session, None, MARCH)
    assert [e.ref for e in digest.premortems] == ["PM-1"] and digest.premortems_total == 1
    assert [e.ref for e in digest.practice] == []  # pre-mortems are not near misses
    [seen] = digest.foreseen
    assert (seen.entry.ref, seen.premortem_ref) == ("INC-A", "PM-1")
    assert seen.risks == ("The new connection pool exhausts the primary's connection limit",)
    assert {f.entry.ref for f in everyone.foreseen} == {"INC-A", "INC-D"}
    assert everyone.premortems_total == 2


def test_the_digest_mail_has_an_anticipating_failure_section(history, app, session, reader):
    with app.test_request_context():
        mail = render.render(compose(session, reader, MARCH))
    html, text = mail.html, mail.text
    assert "Anticipating failure" in html and "ANTICIPATING FAILURE" in text
    assert "1 pre-mortem and 0 game days this month" in html
    assert "foreseen by the pre-mortem" in html and "Risk that materialised" in text
    assert "Rotate the platform" not in html and "Rotate the platform" not in text


@pytest.mark.parametrize("person", sorted(PEOPLE))
def test_a_restricted_pre_mortem_counts_only_for_those_who_may_read_it(
    make_postmortem, make_user, client, login, person
):
    """The visibility matrix's people (tests/test_visibility.py) against the pre-mortem
    figures: a restricted pre-mortem, and an internal incident naming it, count as "after a
    pre-mortem" and "foreseen" only for those who may read the pre-mortem."""
    email, role, teams, allowed = PEOPLE[person]
    make_postmortem(
        **_premortem(
            ref="PM-9",
            title="Rotate the vault's master keys",
            visibility="restricted",
            teams=["security"],
            authors=["writer@x.example"],
            readers=["named@x.example"],
            planned_at="2026-03-01T08:00:00Z",
            published_at="2026-03-01T07:00:00Z",
        )
    )
    make_postmortem(ref="INC-9", premortem="PM-9", foreseen=[{"risk": 1, "materialised": "yes"}])
    login(make_user(email, role=role, teams=teams))
    answer = client.get("/api/v1/figures?from=2026-03&to=2026-03").get_json()
    expected = 1 if allowed else 0
    assert answer["premortems"]["premortems"] == expected
    assert answer["premortems"]["after_premortem"] == expected
    assert answer["premortems"]["foreseen"] == expected
    month = client.get("/figures.csv?from=2026-03&to=2026-03").get_data(as_text=True)
    assert month.splitlines()[1].endswith(
        f",{expected},{expected},{expected},{'1.0' if allowed else ''}"
    )
    preview = client.get("/api/v1/digest/2026-03").get_json()
    assert [f["entry"]["ref"] for f in preview["foreseen"]] == (["INC-9"] if allowed else [])
    assert ("vault's master keys" in json.dumps(preview)) is allowed
