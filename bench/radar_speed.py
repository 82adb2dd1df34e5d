"""Speed of the risk radar (kb.insights.radar) at 50,000 published postmortems.

For ~200 random changes (1 to 3 services of the corpus, a trigger, and text: a postmortem's
title and the start of its summary, as a pre-mortem's author would type), the latency of
`radar()` for an admin and for a reader in one team (the corpus restricts 1 postmortem in 20
to its teams, so the reader's visibility rule has restricted postmortems to decide), then
of POST /api/v1/radar and GET /api/v1/postmortems/<ref>/radar through the app for the reader.

    .venv/bin/python bench/radar_speed.py [--count 50000] [--db /tmp/hindsight-speed.db]
    .venv/bin/python bench/radar_speed.py --url postgresql+psycopg://postgres@127.0.0.1/bench

The SQLite database is made once with bench/themes_speed.py's bulk inserts (and its themes
rebuilt) and kept for reruns; it is the same database as bench/themes_speed.py's. A
PostgreSQL database named by --url is filled the same way when it holds no postmortem.
Prints Markdown for docs/performance.md.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import scratch  # noqa: E402

CHANGES = 200


def prepared(url, count, instance):
    """Fill the database (if it holds no postmortem) and rebuild themes (if never built)."""
    import themes_speed
    from sqlalchemy import func, inspect, select
    from sqlmodel import Session

    from kb.db import make_engine
    from kb.models import Postmortem, ThemeRun

    engine = make_engine(url)
    empty = "postmortem" not in inspect(engine).get_table_names()
    if not empty:
        with Session(engine) as session:
            empty = not session.execute(select(func.count()).select_from(Postmortem)).scalar()
    engine.dispose()
    if empty:
        started = time.perf_counter()
        themes_speed.populate(url, count)
        print(f"populated {count} postmortems in {time.perf_counter() - started:.0f} s")
    engine = make_engine(url)
    with Session(engine) as session:
        built = session.execute(select(func.count()).select_from(ThemeRun)).scalar()
    engine.dispose()
    if not built:
        seconds, _peak, output = themes_speed.rebuild(url, instance)
        print(f"themes rebuilt in {seconds:.0f} s: {output}")


def percentiles(times):
    times = sorted(times)
    return statistics.median(times), times[int(len(times) * 0.95) - 1], times[-1]


def changes(session, rng):
    """Random changes: (services, trigger, text)."""
    from corpus import SERVICES
    from sqlmodel import select

    from kb.models import TRIGGERS, Postmortem

    ids = session.exec(select(Postmortem.id)).all()
    picked = rng.sample(ids, CHANGES)
    texts = {
        pm_id: f"{title}. {summary[:300]}"
        for pm_id, title, summary in session.exec(
            select(Postmortem.id, Postmortem.title, Postmortem.summary).where(
                Postmortem.id.in_(picked)
            )
        ).all()
    }
    return [
        (rng.sample(SERVICES, rng.randint(1, 3)), rng.choice(TRIGGERS), texts[pm_id])
        for pm_id in picked
    ]


def measure(url, instance):
    from sqlmodel import Session, select

    from kb import accounts
    from kb.insights import postings, radar, snapshot
    from kb.models import Postmortem

    app = scratch.app_for(url, instance)
    engine = app.extensions["kb_engine"]
    results = {}
    with Session(engine, expire_on_commit=False) as session:
        reader, admin = scratch.users(session)
        restricted = session.exec(
            select(Postmortem.id).where(Postmortem.visibility == "restricted")
        ).all()
        rng = random.Random(27)
        asked = changes(session, rng)
        # Once per process (a server worker reads both in the background when it starts).
        started = time.perf_counter()
        with snapshot.for_session(session).lock:
            snapshot.for_session(session).refresh(session)
        postings.current(session)
        first = (time.perf_counter() - started) * 1000
        results["read the snapshot and the similar-incidents index (once per process)"] = (
            first,
            first,
            first,
        )
        for name, user in (("admin", admin), ("reader in one team", reader)):
            times, cpu, sizes = [], [], []
            for services, trigger, text in asked:
                started, used = time.perf_counter(), time.process_time()
                found = radar.radar(session, user, services, trigger, text)
                times.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - used) * 1000)
                sizes.append(found.incidents)
            label = f"radar() ({name}; {statistics.mean(sizes):,.0f} past incidents each)"
            results[label] = percentiles(times)
            results[f"{label}, CPU time of this process"] = percentiles(cpu)
        # Typing: the same services and trigger, the text growing (the editor asks again after
        # each pause); the counts are kept, the similar incidents are looked up again.
        times = []
        for services, trigger, text in asked[:20]:
            for end in range(30, 330, 30):
                started = time.perf_counter()
                radar.radar(session, reader, services, trigger, text[:end])
                times.append((time.perf_counter() - started) * 1000)
        results["radar() while typing (reader in one team; same services, text growing)"] = (
            percentiles(times)
        )
        session.commit()

    client = app.test_client()
    token_row, token = None, None
    with Session(engine) as session:
        token_row, token = accounts.create_token(session, scratch.READER, "bench")
        session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    times = []
    for services, trigger, text in asked:
        body = {"services": services, "trigger": trigger, "text": text}
        started = time.perf_counter()
        response = client.post("/api/v1/radar", json=body, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
    results["POST /api/v1/radar (reader in one team)"] = percentiles(times)
    with Session(engine) as session:
        refs = session.exec(
            select(Postmortem.ref).where(Postmortem.visibility == "internal").limit(5000)
        ).all()
    times = []
    for ref in random.Random(5).sample(refs, CHANGES):
        started = time.perf_counter()
        response = client.get(f"/api/v1/postmortems/{ref}/radar", headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
    results["GET /api/v1/postmortems/<ref>/radar (reader in one team)"] = percentiles(times)
    engine.dispose()
    return results, len(restricted)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--db", default=f"{tempfile.gettempdir()}/hindsight-speed.db")
    parser.add_argument("--url", help="a database URL instead of --db (PostgreSQL)")
    args = parser.parse_args(argv)
    url = args.url or f"sqlite:///{args.db}"
    with tempfile.TemporaryDirectory() as instance:
        prepared(url, args.count, instance)
        results, restricted = measure(url, instance)
    print(f"load average {os.getloadavg()[0]:.1f}; {restricted:,} restricted postmortems")
    print("| | median | p95 | max |")
    print("|---|---|---|---|")
    for name, (median, p95, most) in results.items():
        print(f"| {name} | {median:.1f} ms | {p95:.1f} ms | {most:.1f} ms |")


if __name__ == "__main__":
    main()
