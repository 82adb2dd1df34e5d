"""The change log is pruned below what every follower has applied; a follower that fell
behind the pruned point rebuilds and ends equal to the database.

Two servers are two apps on one database, each with its own search index folder (real
Whoosh on disk), on SQLite and PostgreSQL.
"""

import time
from datetime import timedelta

import pytest
from sqlalchemy import insert, update
from sqlmodel import Session, select

from kb import changelog, create_app
from kb.insights.snapshot import Snapshot
from kb.models import SEVERITIES, Change, ChangeFollower, ChangePrune, Postmortem, utcnow
from kb.search import follower, reporting
from kb.search import query as search_query
from kb.search.index import for_app
from kb.search.service import service_for

REFS = [f"INC-2026-{n:03d}" for n in range(1, 6)]
KEEP = {"keep_seconds": 24 * 3600, "forget_seconds": 72 * 3600}


@pytest.fixture
def second(app, tmp_path):
    """Another server on the same database, with an index folder of its own."""
    other = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "second"),
            "DATABASE_URL": app.config["DATABASE_URL"],
            "SECRET_KEY": "test-secret",
        }
    )
    assert other.config["INDEX_DIR"] != app.config["INDEX_DIR"]
    yield other
    other.extensions["kb_engine"].dispose()


@pytest.fixture(autouse=True)
def report_every_round(monkeypatch):
    # Servers write their position at most once a minute; here every round shows.
    monkeypatch.setattr(follower, "REPORT_SECONDS", 0)


def _run(app):
    """One round of the server's syncer (apply the change log, report the position)."""
    report = service_for(app).syncer.run_once(wait=5)
    assert report is not None and not report.busy
    return report


def _age_changes(session, hours=48):
    """As if every change so far was made `hours` ago (older than the pruning margin)."""
    session.execute(update(Change).values(at=utcnow() - timedelta(hours=hours)))
    session.commit()


def _position(session, app):
    session.expire_all()
    name = reporting.follower_name(for_app(app))
    return session.exec(select(ChangeFollower.applied).where(ChangeFollower.name == name)).one()


def _ids(session):
    session.expire_all()
    return session.exec(select(Change.id).order_by(Change.id)).all()


def _prune(session, **settings):
    report = changelog.prune(session, **{**KEEP, **settings})
    session.commit()
    return report


def _check(app):
    with app.app_context(), Session(app.extensions["kb_engine"]) as session:
        return reporting.check(session, app)


def _search(app, text):
    with app.app_context():
        return [h.ref for h in search_query.search(for_app(app), None, text).hits]


def test_pruning_keeps_what_the_slowest_index_needs(app, second, make_postmortem, session):
    for ref in REFS:
        make_postmortem(ref=ref, title=f"Aardvark trouble {ref}")
    _run(app)
    _run(second)
    slow = _position(session, second)
    assert slow == _ids(session)[-1] == _position(session, app)
    for ref in REFS:
        make_postmortem(ref=ref, title=f"Zebra trouble {ref}")
    _run(app)  # the second server does not keep up
    top = _ids(session)[-1]
    assert _position(session, app) == top and _position(session, second) == slow
    _age_changes(session)

    report = _prune(session)
    assert report.deleted == slow and report.upto == slow and report.forgotten == []
    assert _ids(session) == list(range(slow + 1, top + 1))  # all the slow index still needs
    assert changelog.pruned_upto(session) == slow

    caught_up = _run(second)
    assert caught_up.rebuilt == 0 and caught_up.upserted == len(REFS)
    result = _check(second)
    assert result.drift is False and result.lag == 0 and result.indexed == len(REFS)
    assert sorted(_search(second, "zebra")) == REFS

    # Both in step: everything but the newest change goes (SQLite would reuse its id).
    report = _prune(session)
    assert report.upto == top - 1 and _ids(session) == [top]
    make_postmortem(ref="INC-2026-099", title="After pruning")
    assert _ids(session)[-1] > top


def test_an_index_behind_the_pruned_point_rebuilds(app, second, make_postmortem, session):
    for ref in REFS:
        make_postmortem(ref=ref, title=f"Aardvark trouble {ref}")
    _run(app)
    _run(second)
    for ref in REFS:
        make_postmortem(ref=ref, title=f"Zebra trouble {ref}", severity="SEV1")
    _run(app)
    # The second server was last heard of four days ago: forgotten, it holds nothing back.
    session.execute(
        update(ChangeFollower)
        .where(ChangeFollower.name == reporting.follower_name(for_app(second)))
        .values(seen_at=utcnow() - timedelta(days=4))
    )
    _age_changes(session)
    report = _prune(session)
    top = _ids(session)[-1]
    assert report.forgotten == [reporting.follower_name(for_app(second))]
    assert report.upto == top - 1 and _ids(session) == [top]

    back = _run(second)
    assert back.pruned_rebuilds == 1 and back.rebuilt == len(REFS)
    result = _check(second)
    assert result.drift is False and result.lag == 0 and result.indexed == len(REFS)
    assert sorted(_search(second, "zebra")) == REFS
    assert _search(second, "aardvark") == []
    assert _position(session, second) == top  # known again, at the top
    cli = second.test_cli_runner().invoke(args=["search", "check"])
    assert cli.exit_code == 0 and "The index matches the database." in cli.output
    again = _run(second)
    assert again.rebuilt == 0 and again.pruned_rebuilds == 0


def _severities(snap):
    live = snap.columns["live"][: snap.size]
    ids = snap.columns["id"][: snap.size][live].tolist()
    codes = snap.columns["severity"][: snap.size][live].tolist()
    return {pm_id: SEVERITIES[code] for pm_id, code in zip(ids, codes, strict=True)}


def _rows(snap):
    """Every live postmortem of the snapshot as a tuple of its columns, by id."""
    live = snap.columns["live"][: snap.size]
    names = sorted(n for n in snap.columns if n != "live")
    columns = [snap.columns[n][: snap.size][live].tolist() for n in names]
    rows = [tuple(None if v != v else v for v in row) for row in zip(*columns, strict=True)]
    return sorted(rows, key=lambda row: row[names.index("id")])


def test_a_figures_snapshot_behind_the_pruned_point_reads_everything(app, make_postmortem, session):
    for ref in REFS:
        make_postmortem(ref=ref, severity="SEV3")
    snap = Snapshot()  # one process's figures, idle after this first read
    with snap.lock:
        snap.refresh(session)
    assert set(_severities(snap).values()) == {"SEV3"}
    for ref in REFS:
        make_postmortem(ref=ref, severity="SEV1")
    _run(app)
    _age_changes(session)
    assert _prune(session).deleted > 0

    session.rollback()
    with snap.lock:
        snap.refresh(session)
    fresh = Snapshot()
    with fresh.lock:
        fresh.refresh(session)
    assert _rows(snap) == _rows(fresh) and len(_rows(snap)) == len(REFS)
    assert set(_severities(snap).values()) == {"SEV1"} and len(_severities(snap)) == len(REFS)


def test_changes_a_follower_still_waits_for_are_kept(app, make_postmortem, session):
    """PostgreSQL: a change id can commit after a higher one; pruning must not go past it."""
    alpha = make_postmortem(ref="INC-2026-001", title="Alpha")
    bravo = make_postmortem(ref="INC-2026-002", title="Bravo")
    _run(app)
    top = _ids(session)[-1]
    # Change top+2 commits first; top+1 (an edit of Bravo) is still in flight.
    session.execute(
        update(Postmortem).where(Postmortem.id == alpha.id).values(title="Alpha renamed", version=5)
    )
    session.execute(
        insert(Change).values(id=top + 2, postmortem_id=alpha.id, ref=alpha.ref, op="upsert")
    )
    session.commit()
    _run(app)
    assert _position(session, app) == top  # it has applied everything up to the gap
    _age_changes(session)
    report = _prune(session)
    assert report.upto == top - 1 or report.upto == top
    assert report.upto < top + 1 and top + 2 in _ids(session)
    # Now the lower id commits: the index still applies it, without rebuilding.
    session.execute(
        update(Postmortem).where(Postmortem.id == bravo.id).values(title="Bravo renamed", version=7)
    )
    session.execute(
        insert(Change).values(id=top + 1, postmortem_id=bravo.id, ref=bravo.ref, op="upsert")
    )
    session.commit()
    late = _run(app)
    assert late.rebuilt == 0 and late.upserted == 1
    assert _search(app, "bravo renamed") == ["INC-2026-002"]
    assert _check(app).drift is False
    assert _position(session, app) == top + 2


def test_an_index_built_after_pruning_does_not_wait_for_pruned_ids(
    app, second, make_postmortem, session
):
    for ref in REFS:
        make_postmortem(ref=ref, title=f"Aardvark trouble {ref}")
        make_postmortem(ref=ref, title=f"Zebra trouble {ref}")
    _run(app)
    _age_changes(session)
    assert _prune(session).upto == _ids(session)[-1] - 1
    first = _run(second)  # a new server: builds its index from the database
    assert first.rebuilt == len(REFS) and first.pruned_rebuilds == 0
    with second.app_context():
        state = for_app(second).state()
    assert all(int(g) > changelog.pruned_upto(session) for g in state["gaps"])
    assert _run(second).rebuilt == 0
    assert _check(second).drift is False


def test_young_changes_and_unknown_followers_keep_everything(app, make_postmortem, session):
    for ref in REFS:
        make_postmortem(ref=ref)
    before = _ids(session)
    report = _prune(session)  # no follower has reported yet
    assert report.deleted == 0 and "no follower" in report.reason
    _run(app)
    report = _prune(session)  # every change is younger than the margin
    assert report.deleted == 0 and "margin" in report.reason
    assert _ids(session) == before
    assert session.exec(select(ChangePrune)).all() == []


def test_cli_status_prune_and_forget(app, second, runner, make_postmortem, session):
    for ref in REFS:
        make_postmortem(ref=ref)
    _run(app)
    _run(second)
    make_postmortem(ref="INC-2026-001", title="Edited after both applied")
    _run(app)
    _age_changes(session)
    names = sorted(reporting.follower_name(for_app(a)) for a in (app, second))
    result = runner.invoke(args=["changelog", "status"])
    assert result.exit_code == 0, result.output
    assert "changes        6 (ids 1 to 6)" in result.output and "pruned_upto    0" in result.output
    assert all(name in result.output for name in names)

    result = runner.invoke(args=["changelog", "prune", "--limit", "2"])
    assert result.exit_code == 0 and "Deleted 2 changes" in result.output
    result = runner.invoke(args=["changelog", "prune"])
    assert result.exit_code == 0, result.output
    assert "Deleted 3 changes; the log now starts after change 5." in result.output
    result = runner.invoke(args=["changelog", "forget", reporting.follower_name(for_app(second))])
    assert result.exit_code == 0 and "Forgot" in result.output
    result = runner.invoke(args=["changelog", "forget", "search:nowhere:/nothing"])
    assert result.exit_code == 1 and "no follower is called" in result.output
    result = runner.invoke(args=["changelog", "status"])
    assert reporting.follower_name(for_app(second)) not in result.output
    assert "pruned_upto    5" in result.output

    _run(second)  # it comes back: behind the pruned point, it rebuilds
    assert _check(second).drift is False


def test_servers_prune_in_the_background_at_a_modest_rate(app, make_postmortem, session):
    for ref in REFS:
        make_postmortem(ref=ref)
    app.config.update(CHANGELOG_KEEP_HOURS=1, CHANGELOG_PRUNE_MINUTES=0.001)
    _age_changes(session)
    syncer = follower.Syncer(app)
    syncer.mode = "thread"
    service_for(app).syncer = syncer
    try:
        syncer.ensure_running()  # reports its position, then prunes at its next round
        deadline = time.monotonic() + 20
        while changelog.pruned_upto(session) == 0 and time.monotonic() < deadline:
            session.rollback()
            time.sleep(0.1)
        assert changelog.pruned_upto(session) == len(REFS) - 1
    finally:
        syncer.stop()
    # Once pruned, no server prunes again within the interval (shared through the database).
    app.config.update(CHANGELOG_PRUNE_MINUTES=10)
    assert changelog.prune_if_due(session, app.config) is None
    later = utcnow() + timedelta(minutes=11)
    assert changelog.prune_if_due(session, app.config, now=later) is not None


def test_pruning_in_small_batches_keeps_a_short_history(app, make_postmortem, session, monkeypatch):
    monkeypatch.setattr(changelog, "PRUNES_KEPT", 2)
    for ref in REFS:
        make_postmortem(ref=ref)
    _run(app)
    _age_changes(session)
    first = _ids(session)[0]
    for n in range(1, 4):
        report = _prune(session, limit=1)
        assert (report.deleted, report.upto) == (1, first + n - 1)
    prunes = session.exec(select(ChangePrune.upto).order_by(ChangePrune.id)).all()
    assert prunes == [first + 1, first + 2] and changelog.pruned_upto(session) == first + 2
    assert _ids(session)[0] == first + 3
