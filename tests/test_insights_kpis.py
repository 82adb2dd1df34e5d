"""Figures, computed by hand for a small fixture, through the domain, the page, CSV and API."""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import literal, text
from sqlmodel import select
from sqlmodel.sql.sqltypes import UTCDateTime

from kb import accounts
from kb.insights import dashboard, kpis, sqldates


@pytest.fixture
def month_of_incidents(make_postmortem):
    """March and April 2026; every number below is worked out by hand from these."""
    make_postmortem(
        ref="INC-2026-101",
        title="Checkout down after a deploy",
        severity="SEV1",
        trigger="deploy",
        services=["checkout-api", "payments-gateway"],
        started_at="2026-03-02T09:00:00Z",
        detected_at="2026-03-02T09:10:00Z",  # 10 minutes to detect
        mitigated_at="2026-03-02T10:00:00Z",
        resolved_at="2026-03-02T11:00:00Z",  # 120 minutes to resolve
        published_at="2026-03-05T11:00:00Z",  # 3 days to publish
        action_items=[
            {"title": "Done item", "status": "done", "due": "2026-03-10"},
            {"title": "Open item", "status": "open", "due": "2026-03-20"},
            {"title": "Dropped item", "status": "wont-do", "due": "2026-03-01"},
        ],
    )
    make_postmortem(
        ref="INC-2026-102",
        title="Slow search",
        severity="SEV2",
        trigger="unknown",
        services=["checkout-api"],
        started_at="2026-03-15T00:00:00Z",
        detected_at="2026-03-15T00:30:00Z",  # 30
        mitigated_at="2026-03-15T01:00:00Z",
        resolved_at="2026-03-15T04:00:00Z",  # 240
        published_at="2026-03-20T04:00:00Z",  # 5 days
        action_items=[{"title": "Going item", "status": "in-progress", "due": "2026-04-15"}],
    )
    make_postmortem(
        ref="INC-2026-103",
        title="A near miss on the ledger",
        kind="near-miss",
        severity="SEV4",
        trigger="config-change",
        services=["ledger"],
        started_at="2026-03-20T00:00:00Z",
        detected_at="2026-03-20T00:05:00Z",
        mitigated_at="2026-03-20T00:30:00Z",
        resolved_at="2026-03-20T01:00:00Z",
        published_at="2026-03-25T01:00:00Z",  # 5 days
        action_items=[],
    )
    make_postmortem(
        ref="INC-2026-104",
        title="A draft does not count",
        status="draft",
        severity="SEV3",
        started_at="2026-03-25T00:00:00Z",
        detected_at=None,
        mitigated_at=None,
        resolved_at=None,
        published_at=None,
        action_items=[{"title": "Draft item", "status": "open", "due": "2026-03-01"}],
    )
    make_postmortem(
        ref="INC-2026-105",
        title="Restricted breach",
        severity="SEV2",
        visibility="restricted",
        teams=["security"],
        services=["identity"],
        started_at="2026-03-28T10:00:00Z",
        detected_at="2026-03-28T10:50:00Z",  # 50
        mitigated_at="2026-03-28T11:00:00Z",
        resolved_at="2026-03-28T12:00:00Z",  # 120
        published_at="2026-04-02T12:00:00Z",
        action_items=[],
    )
    make_postmortem(
        ref="INC-2026-106",
        title="April incident",
        severity="SEV3",
        trigger="config-change",
        services=["ledger"],
        started_at="2026-04-02T00:00:00Z",
        detected_at="2026-04-02T01:00:00Z",
        mitigated_at="2026-04-02T01:30:00Z",
        resolved_at="2026-04-02T02:00:00Z",
        published_at="2026-04-10T00:00:00Z",
        action_items=[],
    )


@pytest.fixture
def reader(make_user):
    return make_user("reader@x.example", role="reader", teams=["storefront"])


def test_month_figures_for_a_reader_leave_out_drafts_and_restricted(
    month_of_incidents, session, reader
):
    figures = kpis.month_figures(session, reader, date(2026, 3, 17))
    assert figures.month == date(2026, 3, 1)
    assert figures.incidents_by_severity == {"SEV1": 1, "SEV2": 1, "SEV3": 0, "SEV4": 0}
    assert (figures.incidents, figures.near_misses, figures.game_days) == (2, 1, 0)
    assert figures.ttd_median_minutes == 20  # median of 10 and 30
    assert figures.ttr_median_minutes == 180  # median of 120 and 240
    # Items of postmortems published by the end of March: done, open, in progress (the
    # wont-do one is a decision, not work); the open one was due 20 March: overdue.
    assert (figures.actions_done, figures.actions_total, figures.actions_overdue) == (1, 3, 1)


def test_month_figures_for_everyone_include_the_restricted_incident(month_of_incidents, session):
    figures = kpis.month_figures(session, None, date(2026, 3, 1))
    assert figures.incidents_by_severity["SEV2"] == 2 and figures.incidents == 3
    assert figures.ttd_median_minutes == 30  # 10, 30, 50
    assert figures.ttr_median_minutes == 120  # 120, 240, 120
    empty = kpis.month_figures(session, None, date(2025, 1, 1))
    assert empty.incidents == 0 and empty.ttd_median_minutes is None


def test_dashboard_by_hand(month_of_incidents, session, reader):
    board = dashboard.dashboard(
        session, reader, date(2026, 3, 1), date(2026, 4, 1), today=date(2026, 4, 30)
    )
    march, april = board.months
    assert march.by_severity == {"SEV1": 1, "SEV2": 1, "SEV3": 0, "SEV4": 0}
    assert march.by_kind == {"incident": 2, "near-miss": 1, "game-day": 0, "pre-mortem": 0}
    assert (march.ttd_median, march.ttd_p90) == (20, pytest.approx(28))  # 10 + 0.9 * 20
    assert (march.ttr_median, march.ttr_p90) == (180, pytest.approx(228))
    assert march.publish_median_days == 5  # 3, 5 and 5 days
    assert (march.change_triggered, march.incidents, march.change_share) == (1, 2, 0.5)
    assert april.by_severity["SEV3"] == 1 and april.change_triggered == 1
    # Action items of postmortems started in the range; overdue as of 30 April.
    assert (board.actions_done, board.actions_open, board.actions_overdue) == (1, 2, 2)
    assert board.actions_wont_do == 1
    assert board.top_services == [("checkout-api", 2), ("ledger", 2), ("payments-gateway", 1)]
    assert [ref for ref, _t, _m in board.slowest] == [
        "INC-2026-102",
        "INC-2026-101",
        "INC-2026-106",
    ]


def test_percentiles_match_numpy_linear_interpolation():
    assert kpis.percentile([1, 2, 3, 4], 90) == pytest.approx(3.7)
    assert kpis.median([5]) == 5 and kpis.median([]) is None


def test_figures_page_csv_and_api(month_of_incidents, client, login, reader, session):
    login(reader)
    page = client.get("/figures?from=2026-03&to=2026-04")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<svg" in body and "Incidents per month by severity" in body
    assert 'style="' not in body  # the CSP forbids inline styles
    assert "Restricted breach" not in body and "Slow search" in body

    download = client.get("/figures.csv?from=2026-03&to=2026-04")
    assert download.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert [r["month"] for r in rows] == ["2026-03", "2026-04"]
    assert rows[0]["SEV1"] == "1" and rows[0]["incidents"] == "2"
    assert rows[0]["ttd_median_minutes"] == "20.0" and rows[0]["change_share"] == "0.5"

    _row, token = accounts.create_token(session, reader.email, "figures")
    session.commit()
    data = client.get(
        "/api/v1/figures?from=2026-03&to=2026-03", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    assert data["from"] == data["to"] == "2026-03"
    assert data["months"][0]["SEV2"] == 1 and data["months"][0]["near_misses"] == 1
    assert set(data) >= {"actions", "top_services", "top_themes", "slowest_to_resolve"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-13&to=2026-12", "from: must be a month written YYYY-MM"),
        ("from=2026-05&to=2026-01", "from: must not be after `to`"),
        ("from=2010-01&to=2026-01", "at most 60 months"),
        ("to=March", "to: must be a month written YYYY-MM"),
    ],
)
def test_bad_ranges_get_a_clear_400(client, login, reader, query, message):
    login(reader)
    response = client.get(f"/api/v1/figures?{query}")
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]
    page = client.get(f"/figures?{query}")
    assert page.status_code == 400 and message.split(": ")[-1] in page.get_data(as_text=True)


def test_the_dashboard_follows_every_change(month_of_incidents, session, reader, make_postmortem):
    def march():
        board = dashboard.dashboard(session, reader, date(2026, 3, 1), date(2026, 3, 1))
        return board.months[0].incidents

    assert march() == 2
    assert march() == 2  # served again from the cache
    make_postmortem(ref="INC-2026-107", started_at="2026-03-01T00:00:00Z", action_items=[])
    assert march() == 3
    restricted = make_postmortem(
        ref="INC-2026-107",
        started_at="2026-03-01T00:00:00Z",
        action_items=[],
        visibility="restricted",
        teams=["security"],
    )
    assert restricted.visibility == "restricted"
    assert march() == 2  # no longer counted for this reader


def test_months_are_utc_months_whatever_the_database_time_zone(session):
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("SET TIME ZONE 'Pacific/Kiritimati'"))  # UTC+14: already April
    late_march = literal(datetime(2026, 3, 31, 23, 30, tzinfo=UTC), UTCDateTime())
    assert session.exec(select(sqldates.sql_month(session, late_march))).one() == "2026-03"
    session.rollback()
