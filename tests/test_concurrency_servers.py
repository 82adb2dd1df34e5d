"""Parallel writers against gunicorn with several workers, on SQLite and on PostgreSQL: one
save per version wins, the others get 409; refs are never a 500; nothing is lost or doubled."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlmodel import select

from kb import accounts
from kb.document import to_document, validate
from kb.models import Postmortem, Revision
from tests.faults.servers import Gunicorn

WORKERS, THREADS = 4, 4
AUTHOR = "ana@x.example"


@pytest.fixture
def server(database_url, session, make_user, tmp_path):
    """gunicorn serving the test database, and the headers of an author's API token."""
    make_user(AUTHOR, role="author")
    _row, token = accounts.create_token(session, AUTHOR, "race")
    session.commit()
    env = {
        "KB_DATABASE_URL": database_url,
        "KB_INSTANCE_PATH": str(tmp_path / "instance"),
        "KB_INDEX_DIR": str(tmp_path / "index"),
        "KB_SECRET_KEY": "race",
    }
    with Gunicorn(tmp_path / "server", env, workers=WORKERS, threads=THREADS) as running:
        running.headers = {"Authorization": f"Bearer {token}"}
        yield running


def _all_at_once(count, call):
    """Run call(i) for i in range(count) in threads that start together; the answers."""
    gate = threading.Barrier(count)

    def one(i):
        gate.wait()
        return call(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def _stored(session, ref):
    session.rollback()
    pm = session.exec(select(Postmortem).where(Postmortem.ref == ref)).one()
    session.refresh(pm)
    numbers = session.exec(
        select(Revision.number).where(Revision.postmortem_id == pm.id).order_by(Revision.number)
    ).all()
    return pm, to_document(pm), list(numbers)


def test_eight_puts_on_one_version_one_wins_the_others_get_409(server, make_postmortem, session):
    ref = make_postmortem(authors=[AUTHOR], status="draft").ref
    url = f"{server.url}/api/v1/postmortems/{ref}"
    base = requests.get(url, headers=server.headers, timeout=10).json()
    assert base["version"] == 1

    def put(i):
        body = {**base, "summary": f"Written by writer {i}."}
        return requests.put(url, json=body, headers=server.headers, timeout=60)

    answers = _all_at_once(8, put)
    codes = Counter(a.status_code for a in answers)
    assert codes == {200: 1, 409: 7}, [(a.status_code, a.text[:200]) for a in answers]
    winner = next(a.json() for a in answers if a.status_code == 200)
    assert all(a.json()["current_version"] == 2 for a in answers if a.status_code == 409)

    pm, doc, numbers = _stored(session, ref)
    assert (pm.version, doc["summary"], doc["authors"]) == (2, winner["summary"], [AUTHOR])
    assert numbers == [1, 2]
    validate(doc)  # what a backup would write is a valid document

    again = requests.get(url, headers=server.headers, timeout=10).json()
    edited = {**again, "summary": "Edited after the race."}
    assert requests.put(url, json=edited, headers=server.headers, timeout=10).status_code == 200


def test_parallel_creates_never_answer_500_and_never_share_a_ref(server, session):
    def create(i):
        body = {"title": f"Created in parallel {i}", "started_at": "2026-05-01T10:00:00Z"}
        return requests.post(
            f"{server.url}/api/v1/postmortems", json=body, headers=server.headers, timeout=60
        )

    answers = []
    for _round in range(5):
        answers += _all_at_once(16, create)
    codes = Counter(a.status_code for a in answers)
    assert codes == {201: 80}, [
        (a.status_code, a.text[:200]) for a in answers if a.status_code != 201
    ]
    refs = [a.json()["ref"] for a in answers]
    assert sorted(refs) == [f"INC-2026-{n:03d}" for n in range(1, 81)]


def test_writers_that_retry_on_409_lose_nothing(server, make_postmortem, session):
    """Five writers each add five tags by GET-then-PUT, again on 409: all 25 arrive."""
    ref = make_postmortem(authors=[AUTHOR], tags=[], status="draft").ref
    url = f"{server.url}/api/v1/postmortems/{ref}"

    def writer(i):
        conflicts = 0
        for k in range(5):
            while True:
                current = requests.get(url, headers=server.headers, timeout=30).json()
                body = {**current, "tags": [*current["tags"], f"w{i}-{k}"]}
                answer = requests.put(url, json=body, headers=server.headers, timeout=60)
                if answer.status_code == 200:
                    break
                assert answer.status_code == 409, answer.text
                conflicts += 1
        return conflicts

    conflicts = _all_at_once(5, writer)
    pm, doc, numbers = _stored(session, ref)
    assert sorted(doc["tags"]) == sorted(f"w{i}-{k}" for i in range(5) for k in range(5))
    assert doc["authors"] == [AUTHOR]
    assert pm.version == 26
    assert numbers == list(range(1, 27))
    print(f"{sum(conflicts)} conflicts answered 409 and retried")
