"""The index follows the database through the change log: idempotent, order-insensitive,
crash-safe, one writer at a time. Real processes, real Whoosh, SQLite and PostgreSQL."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import insert, update
from sqlmodel import Session, select

from kb import changelog, postmortems
from kb.document import validate
from kb.models import Change, Postmortem
from kb.search import applying, follower, reporting
from kb.search import query as search_query
from kb.search.index import IndexUnavailable, for_app
from kb.search.service import service_for
from tests.conftest import document

ROOT = Path(__file__).resolve().parent.parent


def _search(app, text, user=None):
    with app.app_context():
        return search_query.search(for_app(app), user, text)


def _apply(app, **kwargs):
    # In an app context: its teardown closes the index's files (tests make many apps).
    with app.app_context(), Session(app.extensions["kb_engine"]) as session:
        return applying.apply_pending(session, for_app(app), **kwargs)


def _check(app):
    with app.app_context(), Session(app.extensions["kb_engine"]) as session:
        return reporting.check(session, app)


def _indexed(app):
    """{ref: version} as the index holds them."""
    with app.app_context(), for_app(app).searcher() as searcher:
        return {
            s["meta"]["ref"]: s["meta"]["version"]
            for _n, s in searcher.reader().iter_docs()
            if "meta" in s
        }


def _database(session):
    session.expire_all()
    return {pm.ref: pm.version for pm in session.exec(select(Postmortem)).all()}


def test_a_save_is_searchable_after_its_commit(app, make_postmortem, session):
    make_postmortem(ref="INC-2026-001", title="Gateway timeouts")
    _apply(app)
    assert [h.ref for h in _search(app, "gateway").hits] == ["INC-2026-001"]
    # A save through a request (the after-commit hook) needs no explicit apply.
    with app.test_request_context():
        from kb.db import get_session

        db = get_session()
        pm, _ = postmortems.save_document(
            db, validate(document(ref="INC-2026-001", title="Resolver timeouts"))
        )
        db.commit()
    assert [h.ref for h in _search(app, "resolver").hits] == ["INC-2026-001"]
    assert _search(app, "gateway").total == 0
    assert _check(app).drift is False


def test_applying_is_idempotent_and_reads_the_current_state(app, make_postmortem, session):
    make_postmortem(ref="INC-2026-001", title="First title")
    make_postmortem(ref="INC-2026-001", title="Second title")
    make_postmortem(ref="INC-2026-001", title="Third title")
    report = _apply(app)
    assert report.applied == 3 or report.rebuilt == 1
    assert _indexed(app) == {"INC-2026-001": 3}
    assert _apply(app).applied == 0  # nothing pending
    # Re-applying old changes (as after a crash) changes nothing: the current state wins.
    with app.app_context(), for_app(app).searcher() as searcher:
        from kb.search.index import read_state

        state = read_state(searcher)
    ix = for_app(app).open()
    writer = ix.writer()
    from kb.search.index import state_fields

    writer.update_document(**state_fields({**state, "upto": 0}))
    writer.commit()
    assert _apply(app).applied == 3
    assert _search(app, "third").total == 1 and _search(app, "first").total == 0


def test_a_deleted_postmortem_leaves_the_index(app, make_postmortem, session):
    pm = make_postmortem(ref="INC-2026-001", title="Soon gone")
    _apply(app)
    session.delete(session.get(Postmortem, pm.id))
    session.add(Change(postmortem_id=pm.id, ref=pm.ref, op="delete"))
    session.commit()
    assert _apply(app).deleted == 1
    assert _search(app, "gone").total == 0 and _check(app).drift is False


def test_a_crash_between_commit_and_index_write_loses_nothing(app, make_postmortem, tmp_path):
    make_postmortem(ref="INC-2026-001", title="Before the crash")
    _apply(app)
    # Another process commits a save and dies before it can touch the index.
    script = f"""
        import os
        from kb import create_app, postmortems
        from kb.db import get_session
        from kb.document import validate
        from tests.conftest import document
        app = create_app({{"INSTANCE_PATH": {str(tmp_path / "instance")!r},
                           "DATABASE_URL": {app.config["DATABASE_URL"]!r},
                           "SEARCH_SYNC": "off"}})
        with app.app_context():
            db = get_session()
            postmortems.save_document(db, validate(document(ref="INC-2026-002",
                                                            title="Committed zeppelin")))
            db.commit()
            os._exit(9)
    """
    result = _python(script)
    assert result.returncode == 9
    assert _search(app, "zeppelin").total == 0 and _check(app).missing == ["INC-2026-002"]
    _apply(app)  # the next start, or any process's next apply
    assert _search(app, "zeppelin").total == 1 and _check(app).drift is False


def test_a_process_killed_while_indexing_leaves_an_index_that_catches_up(
    app, make_postmortem, tmp_path
):
    for n in range(1, 41):
        make_postmortem(ref=f"INC-2026-{n:03d}", title=f"Incident number {n}")
    script = f"""
        import os, signal
        from sqlmodel import Session
        from kb import create_app
        from kb.search import applying, follower, reporting
        from kb.search.service import service_for
        from kb.search.index import for_app
        app = create_app({{"INSTANCE_PATH": {str(tmp_path / "instance")!r},
                           "DATABASE_URL": {app.config["DATABASE_URL"]!r},
                           "SEARCH_SYNC": "off"}})
        seen = []
        def progress(n):
            seen.append(n)
            if len(seen) == 25:
                os.kill(os.getpid(), signal.SIGKILL)  # in the middle of indexing
        with app.app_context(), Session(app.extensions["kb_engine"]) as session:
            applying.rebuild(session, for_app(app), progress=progress)
    """
    result = _python(script)
    assert result.returncode == -signal.SIGKILL
    assert _check(app).drift  # nothing was committed: the index is missing or empty
    _apply(app)  # the next start
    report = _check(app)
    assert report.drift is False and report.indexed == 40


def test_out_of_order_change_ids_are_not_skipped(app, make_postmortem, session):
    """PostgreSQL: a lower change id can become visible after a higher one was applied."""
    a = make_postmortem(ref="INC-2026-001", title="Alpha")
    b = make_postmortem(ref="INC-2026-002", title="Bravo")
    _apply(app)
    top = session.exec(select(Change.id).order_by(Change.id.desc())).first()
    # Change top+2 commits first; top+1 (an edit of Bravo) is still in flight.
    session.execute(
        update(Postmortem).where(Postmortem.id == a.id).values(title="Alpha renamed", version=5)
    )
    session.execute(insert(Change).values(id=top + 2, postmortem_id=a.id, ref=a.ref, op="upsert"))
    session.commit()
    _apply(app)
    assert _search(app, "renamed").total == 1
    with app.app_context():
        state = for_app(app).state()
    assert str(top + 1) in state["gaps"] and state["upto"] == top + 2
    # Now the lower id commits: it must still be applied.
    session.execute(
        update(Postmortem).where(Postmortem.id == b.id).values(title="Bravo renamed", version=7)
    )
    session.execute(insert(Change).values(id=top + 1, postmortem_id=b.id, ref=b.ref, op="upsert"))
    session.commit()
    _apply(app)
    assert _search(app, "bravo renamed").total == 1
    with app.app_context():
        assert for_app(app).state()["gaps"] == {}
        assert reporting.lag(session, app) == 0
    assert _check(app).drift is False


def test_a_gap_that_never_fills_expires(app, make_postmortem, session, monkeypatch):
    a = make_postmortem(ref="INC-2026-001", title="Alpha")
    _apply(app)
    top = session.exec(select(Change.id).order_by(Change.id.desc())).first()
    session.execute(insert(Change).values(id=top + 3, postmortem_id=a.id, ref=a.ref, op="upsert"))
    session.commit()
    _apply(app)
    with app.app_context():
        assert len(for_app(app).state()["gaps"]) == 2
    monkeypatch.setattr(changelog, "GAP_SECONDS", -1)  # as if the rolled-back ids waited
    _apply(app)
    with app.app_context():
        assert for_app(app).state()["gaps"] == {}


def test_one_writer_at_a_time_others_do_not_wait(app, make_postmortem):
    make_postmortem(ref="INC-2026-001")
    idx = for_app(app)
    with idx.write_lock() as first:
        assert first
        with idx.write_lock() as second:  # another holder (a second open file) is refused
            assert second is False
        assert _apply(app).busy
    assert _apply(app).busy is False


def test_a_missing_or_broken_index_says_rebuilding_and_catches_up(app, make_postmortem, client):
    make_postmortem(ref="INC-2026-001", title="Saved while the index was broken")
    idx = for_app(app)
    with pytest.raises(IndexUnavailable), idx.searcher():
        pass
    with app.app_context():
        assert search_query.search(idx, None, "broken").rebuilding
    _apply(app)
    assert _search(app, "broken").total == 1
    # Damage the index files: the next apply rebuilds it from the database.
    idx.close()
    for path in idx.path.iterdir():
        if path.suffix in (".seg", ".toc", ".trm", ".pst"):
            path.write_bytes(b"garbage")
    with app.app_context():
        assert search_query.search(idx, None, "broken").rebuilding
    _apply(app)
    assert _search(app, "broken").total == 1 and _check(app).drift is False


def test_four_processes_saving_concurrently_end_in_step(app, make_postmortem, session, tmp_path):
    for n in range(1, 5):
        make_postmortem(ref=f"INC-2026-{n:03d}", title=f"Shared {n}")
    _apply(app)
    script = """
        import sys
        from kb import create_app, postmortems
        from kb.db import get_session
        from kb.document import validate
        from tests.conftest import document
        worker, instance, url = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        app = create_app({"INSTANCE_PATH": instance, "DATABASE_URL": url,
                          "SEARCH_SYNC": "inline"})
        with app.app_context():
            db = get_session()
            for i in range(12):
                if i % 3 == 2:  # everybody edits the shared ones too
                    ref = f"INC-2026-{i % 4 + 1:03d}"
                    title = f"Shared edited by worker {worker} round {i}"
                else:
                    ref = f"INC-2026-{100 + worker * 20 + i:03d}"
                    title = f"Worker {worker} item {i}"
                while True:
                    try:
                        postmortems.save_document(db, validate(document(ref=ref, title=title)))
                        db.commit()
                        break
                    except postmortems.Conflict:  # saved by another between read and write
                        db.rollback()
    """
    instance = str(tmp_path / "instance")
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(script),
                str(w),
                instance,
                app.config["DATABASE_URL"],
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    for process in processes:
        _out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err
    # No apply here: the processes themselves must have left the index complete.
    assert _indexed(app) == _database(session)
    assert len(_indexed(app)) == 4 + 4 * 8
    report = _check(app)
    assert report.drift is False and report.lag == 0


def test_cli_reindex_check_and_status(app, runner, make_postmortem, session):
    for n in range(1, 6):
        make_postmortem(ref=f"INC-2026-{n:03d}", title=f"Incident {n}")
    result = runner.invoke(args=["search", "check"])
    assert result.exit_code == 1 and "not usable (5 changes pending)" in result.output
    result = runner.invoke(args=["search", "reindex", "--procs", "1"])
    assert result.exit_code == 0, result.output
    assert "Indexed 5 postmortems." in result.output
    result = runner.invoke(args=["search", "check"])
    assert result.exit_code == 0 and "matches the database" in result.output
    # A change the index has not seen is drift (stale), and shows as lag.
    session.execute(update(Postmortem).where(Postmortem.ref == "INC-2026-002").values(version=9))
    session.commit()
    result = runner.invoke(args=["search", "check"])
    assert result.exit_code == 1 and "1 stale: INC-2026-002" in result.output
    result = runner.invoke(args=["search", "status"])
    assert result.exit_code == 0 and "documents      5" in result.output
    with app.app_context():
        assert reporting.lag(session, app) == 0


def _python(script):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_thread_mode_applies_saves_in_the_background(app, make_postmortem, session):
    """Production mode: the request does not wait; a worker thread applies within a second."""
    import time

    make_postmortem(ref="INC-2026-001", title="Before")
    syncer = follower.Syncer(app)
    syncer.mode = "thread"
    service_for(app).syncer = syncer
    try:
        with app.test_request_context():
            from kb.db import get_session

            db = get_session()
            postmortems.save_document(db, validate(document(ref="INC-2026-002", title="Ocelot")))
            db.commit()  # the hook wakes the thread; the request goes on
        deadline = time.monotonic() + 5
        while _search(app, "ocelot").total == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _search(app, "ocelot").total == 1
        assert time.monotonic() < deadline
        # A change committed elsewhere (no hook here) is found by the poll.
        make_postmortem(ref="INC-2026-003", title="Wombat")
        # The poll runs once a second; a loaded CI machine gets a generous bound (the latency
        # itself is measured by bench/search_bench.py, not here).
        deadline = time.monotonic() + 15
        while _search(app, "wombat").total == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        with app.app_context(), Session(app.extensions["kb_engine"]) as db:
            lag = reporting.lag(db, app)
        assert _search(app, "wombat").total == 1, (syncer.known_upto, lag)
    finally:
        syncer.stop()
