"""Scale-out: two app servers with their own search indexes share one PostgreSQL; what one
saves, the other finds within two seconds (each catches up from the change log)."""

import time

import pytest
import requests

from kb import accounts
from tests.faults.servers import Gunicorn, wait_until

WITHIN = 2.0  # seconds, from the save's answer to the other server's search finding it


def test_a_save_through_one_server_is_found_by_search_on_the_other(
    database_url, session, make_user, tmp_path
):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite variant: several servers need one shared PostgreSQL database")
    make_user("ops@x.example", role="admin")
    _row, token = accounts.create_token(session, "ops@x.example", "scale-out")
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}

    def server(name):
        env = {
            "KB_DATABASE_URL": database_url,
            "KB_INSTANCE_PATH": str(tmp_path / name),
            "KB_INDEX_DIR": str(tmp_path / name / "index"),
            "KB_SECRET_KEY": "shared-by-both",
        }
        return Gunicorn(tmp_path / f"server-{name}", env, workers=1, threads=2)

    def ready(url):
        return requests.get(url + "/readyz", timeout=5).status_code == 200

    def finds(url, word, ref):
        answer = requests.get(
            f"{url}/api/v1/search", params={"q": word}, headers=headers, timeout=5
        )
        return answer.status_code == 200 and ref in {h["ref"] for h in answer.json()["hits"]}

    with server("a") as a, server("b") as b:
        wait_until(lambda: ready(a.url) and ready(b.url), 60, 0.2, "the servers never got ready")
        delays = []
        for i, (writer, reader) in enumerate([(a, b), (b, a), (a, b)]):
            word = f"zeppelin{i}"
            saved = requests.post(
                f"{writer.url}/api/v1/postmortems",
                json={"title": f"The {word} outage", "summary": f"A {word} fell over."},
                headers=headers,
                timeout=10,
            )
            assert saved.status_code == 201, saved.text
            started = time.monotonic()
            wait_until(
                lambda w=word, r=saved.json()["ref"], u=reader.url: finds(u, w, r),
                WITHIN,
                0.05,
                f"{reader.url} did not find {word} within {WITHIN} s",
            )
            delays.append(time.monotonic() - started)

        # Both indexes end with nothing pending.
        def caught_up(url):
            checks = requests.get(url + "/readyz", timeout=5).json()["checks"]
            return checks["search_index_lag"] == 0

        wait_until(lambda: caught_up(a.url) and caught_up(b.url), 10, 0.1, "lag stayed above 0")
    print(f"found on the other server after {', '.join(f'{d:.2f}' for d in delays)} s")
