"""Faults tried on purpose (a game day for Hindsight itself), against real servers.

- a gunicorn worker SIGKILLed in the middle of a save: nothing half-written;
- the PostgreSQL server restarted under load: clear 503s, never a 500 or a hung request, and
  recovery without anyone stepping in;
- the search index folder unwritable, then deleted: saving works throughout, search says it
  is rebuilding, then catches up.
What each did is written up in docs/operations.md ("What each fault did").
"""

import os
import shutil
import signal
import threading
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import create_engine, func, select
from sqlmodel import Session

from kb import accounts, create_app, migrations
from kb.models import ActionItem, Change, Factor, Label, Postmortem, Revision
from kb.search.service import service_for
from tests.faults.servers import Gunicorn, PrivatePostgres, postgres_binaries, wait_until

MARKER = "PAUSE-AT-"


def _token(session, make_user, email="ops@x.example"):
    make_user(email, role="admin")
    _row, token = accounts.create_token(session, email, "fault test")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def _row_counts(url):
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            counts = {
                model.__name__: session.execute(select(func.count()).select_from(model)).scalar()
                for model in (Postmortem, Label, Factor, ActionItem, Revision, Change)
            }
            ids = set(session.scalars(select(Postmortem.id)))
            orphans = [
                model.__name__
                for model in (Label, Factor, ActionItem, Revision)
                if set(session.scalars(select(model.postmortem_id))) - ids
            ]
            marked = session.scalars(
                select(Postmortem.ref).where(Postmortem.title.contains(MARKER))
            ).all()
            first = session.scalars(select(Postmortem).order_by(Postmortem.id)).first()
            state = (first.title, first.version, first.summary) if first else None
    finally:
        engine.dispose()
    return counts, orphans, marked, state


def test_a_worker_killed_in_the_middle_of_a_save_leaves_nothing_half_written(
    app, session, make_user, database_url, tmp_path
):
    headers = _token(session, make_user)
    marker_file = tmp_path / "stuck.pid"
    env = {
        "KB_DATABASE_URL": database_url,
        "KB_INSTANCE_PATH": str(tmp_path / "instance"),
        "KB_SECRET_KEY": "fault-test",
        "KB_FAULT_MARKER_FILE": str(marker_file),
    }
    with Gunicorn(tmp_path / "server", env, "tests.faults.pausing_app:app", workers=1) as server:
        api = server.url + "/api/v1/postmortems"
        created = requests.post(api, json={"title": "Intact"}, headers=headers, timeout=30)
        assert created.status_code == 201, created.text
        original = created.json()
        before = _row_counts(database_url)

        def save_and_get_killed(method, url, body):
            marker_file.unlink(missing_ok=True)
            outcome = {}

            def call():
                try:
                    outcome["response"] = requests.request(
                        method, url, json=body, headers=headers, timeout=60
                    )
                except requests.RequestException as exc:
                    outcome["error"] = exc

            caller = threading.Thread(target=call)
            caller.start()
            pid = int(wait_until(lambda: marker_file.exists() and marker_file.read_text(), 30))
            os.kill(pid, signal.SIGKILL)
            caller.join(60)
            assert not caller.is_alive()
            assert "response" not in outcome or outcome["response"].status_code >= 500

        for point in ("first-flush", "before-commit"):
            # An update killed mid-save: the previous version stays whole.
            title = f"Changed {MARKER}{point}"
            changed = {**original, "title": title, "summary": "Half a thought"}
            save_and_get_killed("PUT", f"{api}/{original['ref']}", changed)
            # A creation killed mid-save: no trace of it.
            save_and_get_killed("POST", api, {"title": f"New {MARKER}{point}", "tags": ["half"]})

        counts, orphans, marked, state = _row_counts(database_url)
        assert counts == before[0]
        assert orphans == [] and marked == []
        assert state == ("Intact", 1, "")
        # The master started a new worker; the database is not left locked.
        after = wait_until(
            lambda: _try(
                lambda: requests.post(api, json={"title": "Next"}, headers=headers, timeout=10)
            ),
            30,
            0.2,
        )
        assert after.status_code == 201, after.text


def _try(call):
    try:
        response = call()
    except requests.RequestException:
        return None
    return response if response.status_code < 500 else None


@pytest.fixture
def private_postgres():
    if postgres_binaries() is None:
        pytest.skip("PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) are not installed")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: initdb cannot run as another user")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        if os.geteuid() == 0:
            pytest.skip("running as root and there is no postgres user for initdb to run as")
    with PrivatePostgres() as server:
        yield server


def test_postgres_restarted_under_load_gives_503s_then_recovers(private_postgres, tmp_path):
    url = private_postgres.url
    migrations.upgrade("head", url=url)
    engine = create_engine(url)
    with Session(engine) as session:
        accounts.create_user(session, "ops@x.example", "admin", password="correct horse battery")
        _row, token = accounts.create_token(session, "ops@x.example", "load")
        session.commit()
    engine.dispose()
    env = {
        "KB_DATABASE_URL": url,
        "KB_INSTANCE_PATH": str(tmp_path / "instance"),
        "KB_SECRET_KEY": "fault-test",
        "KB_AUTH_TRUSTED_HEADER": "X-Test-User",  # HTML pages as a signed-in user
    }
    api = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    page = {"X-Test-User": "ops@x.example"}
    with Gunicorn(tmp_path / "server", env, workers=2, threads=2) as server:
        created = requests.post(
            server.url + "/api/v1/postmortems", json={"title": "Before"}, headers=api, timeout=10
        )
        assert created.status_code == 201, created.text
        ref = created.json()["ref"]
        targets = [
            ("GET", "/api/v1/postmortems", api),
            ("GET", f"/api/v1/postmortems/{ref}", api),
            ("GET", "/", page),
            ("GET", f"/postmortems/{ref}", page),
            ("GET", "/readyz", {}),
        ]
        results = []  # (monotonic time, target index, status or exception name, seconds)
        stop = threading.Event()

        def load(offset):
            i = offset
            with requests.Session() as http:
                while not stop.is_set():
                    method, path, headers = targets[i % len(targets)]
                    started = time.monotonic()
                    try:
                        response = http.request(
                            method, server.url + path, headers=headers, timeout=15
                        )
                        outcome = response.status_code
                        if outcome == 503 and path.startswith("/api/"):
                            assert response.json()["error"]["status"] == 503
                    except requests.RequestException as exc:
                        outcome = type(exc).__name__
                    results.append((started, i % len(targets), outcome, time.monotonic() - started))
                    i += 1
                    time.sleep(0.01)

        threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.5)
            down_at = time.monotonic()
            private_postgres.stop("fast")
            time.sleep(3)
            private_postgres.start()
            up_at = time.monotonic()

            # Recovered: every kind of request answers 200 again, without any restart of ours.
            def recovered():
                recent = [r for r in results if r[0] > time.monotonic() - 1.0]
                return len({r[1] for r in recent if r[2] == 200}) == len(targets) and all(
                    r[2] == 200 for r in recent
                )

            try:
                wait_until(recovered, 30, 0.2)
            except AssertionError:
                recent = Counter((r[1], r[2]) for r in results if r[0] > time.monotonic() - 3)
                raise AssertionError(f"no recovery: {recent}\n{server.log()}") from None
            recovered_at = time.monotonic()
            time.sleep(1)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        outcomes = Counter(r[2] for r in results)
        during = Counter(r[2] for r in results if down_at <= r[0] <= up_at)
        log = server.log()
    assert set(outcomes) <= {200, 503}, (outcomes, log)
    assert during[503] > 0, during  # the outage was seen, as 503s
    assert max(r[3] for r in results) < 10, "a request hung"
    assert recovered_at - up_at < 15
    print(
        f"outcomes {dict(outcomes)}; slowest {max(r[3] for r in results):.2f} s; "
        f"during the outage {dict(during)}; "
        f"recovered {recovered_at - up_at:.1f} s after the server was back"
    )


def test_search_index_unwritable_then_deleted_saving_works_and_search_catches_up(
    database_url, tmp_path, session, make_user
):
    index_dir = tmp_path / "index"
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            "INDEX_DIR": str(index_dir),
            "SEARCH_SYNC": "thread",  # as in production: a background thread applies changes
        }
    )
    headers = _token(session, make_user)
    client = app.test_client()
    seen = Counter()

    def save(title):
        answer = client.post("/api/v1/postmortems", json={"title": title}, headers=headers)
        assert answer.status_code == 201, answer.get_data(as_text=True)
        return answer.json["ref"]

    def found(*refs):
        answer = client.get("/api/v1/search?q=glacier&per_page=50", headers=headers)
        seen[answer.status_code] += 1
        if answer.status_code == 503:
            assert "being rebuilt" in answer.json["error"]["message"]
            return False
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return set(refs) <= {hit["ref"] for hit in answer.json["hits"]}

    try:
        first = save("Glacier one")
        wait_until(lambda: found(first), 15, 0.1)

        # Unwritable: a file where the folder was (root ignores permission bits; this it cannot).
        shutil.rmtree(index_dir)
        index_dir.write_text("not a folder")
        second = save("Glacier two")
        time.sleep(1.5)  # several rounds of the background sync fail meanwhile
        seen.clear()
        for _ in range(5):
            assert not found(first, second)
        assert seen == {503: 5}  # "rebuilding", never an error or stale results

        # Writable again: it rebuilds by itself and catches up.
        index_dir.unlink()
        wait_until(lambda: found(first, second), 15, 0.1, "search did not catch up")

        # Deleted under the running app: the same, without anyone stepping in.
        shutil.rmtree(index_dir)
        third = save("Glacier three")
        wait_until(lambda: found(first, second, third), 15, 0.1, "search did not catch up")
        assert set(seen) <= {200, 503}
    finally:
        service_for(app).syncer.stop()
        app.extensions["kb_engine"].dispose()
