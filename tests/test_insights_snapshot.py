"""The figures snapshot: kept up to date through the change log, it must always give what a
snapshot read afresh from the database gives, for every kind of change and every reader."""

import copy
import threading
from datetime import date

import numpy as np
import pytest
from sqlalchemy import delete, insert
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from kb import accounts, changelog
from kb.insights import dashboard, snapshot, themes
from kb.insights.child_rows import Children
from kb.insights.themes import details, reading
from kb.models import Change

FIRST, LAST, TODAY = date(2026, 1, 1), date(2026, 6, 1), date(2026, 5, 15)


def _incident(ref, month, **fields):
    day = f"2026-{month:02d}-05"
    return {
        "ref": ref,
        "title": f"Incident {ref}",
        "started_at": f"{day}T10:00:00Z",
        "detected_at": f"{day}T10:{month + 5:02d}:00Z",
        "mitigated_at": f"{day}T11:00:00Z",
        "resolved_at": f"{day}T{11 + month:02d}:30:00Z",
        "published_at": f"2026-{month:02d}-20T10:00:00Z",
        **fields,
    }


@pytest.fixture
def people(make_user):
    return {
        "admin": make_user("admin@x.example", role="admin"),
        "payments": make_user("pay@x.example", teams=["payments"]),
        "storefront": make_user("shop@x.example", teams=["storefront"]),
        "named": make_user("named@x.example", teams=[]),
        "disabled": make_user("gone@x.example", active=False),
    }


def _fresh(session, user):
    """The dashboard from a snapshot read from nothing, as a new process would."""
    fresh = snapshot.Snapshot()
    fresh.refresh(session)
    return dashboard.compute_dashboard(session, fresh, accounts.scope_of(user), FIRST, LAST, TODAY)


def _agree(session, people):
    """Every person's dashboard from the kept snapshot equals one read afresh; returns them."""
    boards = {}
    for name, user in [*people.items(), ("system", None)]:
        kept = dashboard.dashboard(session, user, FIRST, LAST, today=TODAY)
        assert kept == _fresh(session, user), name
        boards[name] = kept
    session.rollback()  # a new transaction sees the next commit (as a new request would)
    return boards


def test_the_kept_snapshot_matches_a_fresh_one_after_every_kind_of_change(
    session, make_postmortem, people
):
    make_postmortem(**_incident("INC-2026-301", 1, severity="SEV1", trigger="deploy"))
    make_postmortem(**_incident("INC-2026-302", 2, services=["ledger", "checkout-api"]))
    make_postmortem(**_incident("INC-2026-303", 3, kind="near-miss", severity="SEV4"))
    boards = _agree(session, people)
    assert boards["payments"].postmortems == 3

    # A new one; one restricted to a team; one naming a person; one back to draft.
    make_postmortem(**_incident("INC-2026-304", 4, action_items=[{"title": "Fix it"}]))
    make_postmortem(**_incident("INC-2026-302", 2, visibility="restricted", teams=["payments"]))
    make_postmortem(
        **_incident(
            "INC-2026-305",
            5,
            visibility="restricted",
            teams=["security"],
            readers=["Named@x.example"],
        )
    )
    boards = _agree(session, people)
    assert boards["payments"].postmortems == 4  # 301, 302 (its team), 303, 304
    assert boards["storefront"].postmortems == 3
    assert boards["named"].postmortems == 4  # 305 names them as a reader
    assert boards["admin"].postmortems == boards["system"].postmortems == 5
    assert boards["disabled"].postmortems == 0

    make_postmortem(**_incident("INC-2026-301", 1, status="draft"))
    make_postmortem(
        **_incident(
            "INC-2026-304",
            4,
            services=["search"],
            action_items=[
                {"title": "Done", "status": "done"},
                {"title": "Late", "status": "in-progress", "due": "2026-04-01"},
            ],
        )
    )
    boards = _agree(session, people)
    assert boards["admin"].postmortems == 4
    assert (boards["admin"].actions_done, boards["admin"].actions_overdue) >= (1, 1)
    assert ("search", 1) in boards["storefront"].top_services


def test_top_themes_follow_a_rebuild(session, make_postmortem, people):
    text = "The TLS certificate expired because its renewal was manual."
    factor = {"text": text, "category": "certificates"}
    statuses = ["done", "open", "wont-do", "in-progress"]
    for i, month in enumerate((1, 2, 3, 4)):
        make_postmortem(
            **_incident(
                f"INC-2026-31{i}",
                month,
                services=[["ledger"], ["ledger", "search"], ["cdn"], []][i],
                contributing_factors=[factor],
                action_items=[
                    {"title": "Automate renewal", "status": statuses[i], "factor": 0},
                    {"title": "Unlinked", "status": "done"},
                ],
            )
        )
    make_postmortem(
        **_incident(
            "INC-2026-315",
            5,
            kind="near-miss",
            severity="SEV4",
            visibility="restricted",
            teams=["payments"],
            contributing_factors=[
                factor,
                {
                    "text": "The certificate expired; its renewal was manual.",
                    "category": "certificates",
                },
                {"text": "The DNS resolver cached a stale record."},
            ],
            services=["ledger", "vault"],
            action_items=[
                {"title": "Alert on expiry", "status": "done", "factor": 1},
                {"title": "Flush the resolver", "status": "open", "factor": 2},
            ],
        )
    )
    before = _agree(session, people)
    assert before["admin"].top_themes == []
    themes.rebuild(session)
    session.commit()
    # INC-2026-310 to 313 (ledger; ledger and search; cdn; none), actions done, open,
    # won't do (not work to do) and in progress: 1 done of 3.
    _themes_agree(session, people, ([("ledger", 2), ("cdn", 1), ("search", 1)], 1, 3))
    after = _agree(session, people)
    (_id, label, count), *_ = after["payments"].top_themes
    assert count == 6 and "ertificate" in label  # four internal factors, two restricted ones
    assert after["storefront"].top_themes[0][2] == 4
    # A save replaces the postmortem's factors: they join the nearest theme again at once.
    make_postmortem(**_incident("INC-2026-310", 1, severity="SEV1", contributing_factors=[factor]))
    assert _agree(session, people)["payments"].top_themes[0] == (_id, label, 6)
    _themes_agree(
        session, people, ([("cdn", 1), ("checkout-api", 1), ("ledger", 1), ("search", 1)], 0, 2)
    )


def _themes_agree(session, people, storefront_certificates):
    """The themes page's counts from the snapshot equal those the SQL gives, for everyone."""

    def seen(views):
        return {
            v.id: (v.label, v.terms, v.size, v.postmortems, v.per_month, v.severities, v.first)
            for v in views.values()
        }

    for name, user in [*people.items(), ("system", None)]:
        by_sql = reading._aggregate(session, user)
        assert seen(reading._aggregate_all(session, user)) == seen(by_sql), name
        # Services and linked action items: by SQL (the theme page's path) and the snapshot.
        # One theme at a time, as pages ask for some of them.
        listed, counted = copy.deepcopy(by_sql), copy.deepcopy(by_sql)
        for theme_id in by_sql:
            for views, by_list in ((listed, True), (counted, False)):
                details._compute_details(
                    [views[theme_id]], session, user, quotes=3, list_actions=by_list
                )
        for theme_id, view in counted.items():
            other = listed[theme_id]
            assert view.services == other.services, name
            assert (view.actions_done, view.actions_total) == (
                other.actions_done,
                other.actions_total,
            ), name
        if name == "storefront":  # internal postmortems only; worked out by hand
            (certificates,) = [v for v in counted.values() if "ertificate" in v.label]
            found = (certificates.services, certificates.actions_done, certificates.actions_total)
            assert found == storefront_certificates
    assert len(reading._aggregate(session, people["payments"])) > len(
        reading._aggregate(session, people["storefront"])
    )  # the restricted postmortem's DNS factor counts for its team only
    session.rollback()


def test_children_replace_rows_and_compact_without_mixing_owners():
    rows = Children(value=np.int32)
    rows.append([0, 0, 1, 2, 2, 2], value=[10, 11, 20, 30, 31, 32])
    for round_ in range(400):  # every slot replaced many times: dead rows get compacted
        slot = round_ % 3
        rows.drop([slot])
        rows.append([slot] * (round_ % 4), value=[slot * 10 + k for k in range(round_ % 4)])
    assert rows.dead <= max(1000, len(rows) // 2)
    owner, value = rows.columns["owner"], rows.columns["value"]
    for slot, (start, stop) in rows.span.items():
        assert (owner[start:stop] == slot).all()
        assert (value[start:stop] // 10 == slot).all()
    live = rows.live()
    assert sorted(owner[live].tolist()) == sorted(
        s for s, (a, b) in rows.span.items() for _ in range(b - a)
    )


def test_the_follower_waits_for_ids_that_commit_late_and_restarts_with_the_log(session):
    follower = changelog.Follower()
    assert follower.changed(session) is None  # the first call reads everything
    top = changelog.max_change_id(session)
    session.exec(insert(Change).values(id=top + 2, postmortem_id=7, ref="B", op="upsert"))
    session.commit()
    assert follower.changed(session) == {7}
    assert top + 1 in follower.cursor.gaps  # not committed yet: asked for again next time
    session.exec(insert(Change).values(id=top + 1, postmortem_id=5, ref="A", op="upsert"))
    session.commit()
    assert follower.changed(session) == {5}
    assert follower.cursor.gaps == {} and follower.changed(session) == set()
    generation = follower.generation
    session.exec(delete(Change))
    session.commit()
    session.exec(insert(Change).values(id=1, postmortem_id=9, ref="C", op="upsert"))
    session.commit()
    assert follower.changed(session) is None  # the log restarted, as after a restore
    assert follower.generation > generation


def test_a_worker_reads_the_snapshot_in_the_background(app, session, make_postmortem, people):
    make_postmortem(**_incident("INC-2026-320", 2))
    thread = snapshot.warm_in_background(app)
    assert isinstance(thread, threading.Thread)
    thread.join(30)
    warm = snapshot.for_session(session)
    assert warm.size == 1 and warm.follower.cursor is not None
    generation = warm.follower.generation
    board = dashboard.dashboard(session, people["payments"], FIRST, LAST, today=TODAY)
    assert board.postmortems == 1 and warm.follower.generation == generation  # nothing re-read
    assert session.exec(select(Change)).first() is not None


def test_a_refresh_that_fails_half_way_reads_everything_next_time(
    session, make_postmortem, people, monkeypatch
):
    make_postmortem(**_incident("INC-2026-330", 2))
    _agree(session, people)
    make_postmortem(**_incident("INC-2026-331", 3))
    kept = snapshot.for_session(session)

    def database_gone(*_args):
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    with monkeypatch.context() as patch:
        patch.setattr(snapshot.Snapshot, "_reload", database_gone)
        with pytest.raises(OperationalError):
            dashboard.dashboard(session, people["admin"], FIRST, LAST, today=TODAY)
    session.rollback()
    assert _agree(session, people)["admin"].postmortems == 2 and kept.size == 2
