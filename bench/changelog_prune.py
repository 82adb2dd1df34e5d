"""How the change log grows with autosaves, and how fast `kb changelog prune` shrinks it.

Run: .venv/bin/python bench/changelog_prune.py [--autosaves 300] [--changes 500000]
     [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/NAME]
Part 1 (SQLite): one author autosaves one postmortem N times through the web app (the
editor's form post), then the server's search index applies and reports its position and
the log is pruned as `kb changelog prune` does once the margin has passed. Part 2: a log of
M changes two days old, one follower at the top; the time to prune it in batches of
PRUNE_BATCH, and of the check every follower makes per round (`pruned_upto`). With
--postgres, part 2 also runs there (the schema of that database is dropped first).
Prints Markdown rows for docs/performance.md.
"""

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DOC = {
    "title": "Autosaved",
    "kind": "incident",
    "status": "draft",
    "ref": "INC-2026-001",
    "authors": ["a@x.example"],
}


def _app(url, tmp):
    from kb import create_app

    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "INSTANCE_PATH": tmp,
            "SECRET_KEY": "bench",
            "SEARCH_SYNC": "inline",
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "WARNING",
        }
    )


def autosaves(count):
    """Rows in `change` after `count` autosaves, then after pruning."""
    from sqlmodel import Session

    from kb import accounts, changelog, migrations, postmortems
    from kb.document import validate
    from kb.models import Change, utcnow
    from kb.search import follower
    from kb.search.service import service_for

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrations.upgrade("head", url=url)
        app = _app(url, tmp)
        engine = app.extensions["kb_engine"]
        with Session(engine) as session:
            accounts.create_user(session, "a@x.example", "author", password="bench password 1")
            postmortems.save_document(session, validate(DOC))
            session.commit()
        client = app.test_client()
        page = client.get("/sign-in").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        client.post(
            "/sign-in",
            data={"email": "a@x.example", "password": "bench password 1", "csrf_token": token},
        )
        page = client.get("/postmortems/INC-2026-001/edit").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]  # a new session's
        version = 1
        for n in range(count):
            response = client.post(
                "/postmortems/INC-2026-001/autosave",
                data={
                    "csrf_token": token,
                    "version": str(version),
                    "title": "Autosaved",
                    "kind": "incident",
                    "summary": f"Draft {n}",
                },
            )
            version = response.json["version"]
        with Session(engine) as session:
            before = session.execute(select(func.count()).select_from(Change)).scalar()
            follower.REPORT_SECONDS = 0  # as a minute later: the position is written again
            service_for(app).syncer.run_once(wait=5)
            session.execute(update(Change).values(at=utcnow() - timedelta(days=2)))
            session.commit()
            report = changelog.prune(session, keep_seconds=86400, forget_seconds=3 * 86400)
            session.commit()
            after = session.execute(select(func.count()).select_from(Change)).scalar()
        engine.dispose()
    print(f"| {count} autosaves | {before} rows before | {report.deleted} pruned | {after} left |")


def prune_speed(url, count, label):
    """Seconds to prune `count` old changes with one follower at the top."""
    from sqlmodel import Session

    from kb import changelog, migrations
    from kb.models import Change, utcnow

    if url.startswith("postgresql"):
        admin = create_engine(url)
        with admin.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        admin.dispose()
    migrations.upgrade("head", url=url)
    from kb.db import make_engine

    engine = make_engine(url)
    old = utcnow() - timedelta(days=2)
    with Session(engine) as session:
        rows = [{"postmortem_id": 1, "ref": "INC-2026-001", "op": "upsert", "at": old}] * 10_000
        for _ in range(count // 10_000):
            session.execute(insert(Change), rows)
        session.commit()
        top = changelog.max_change_id(session)
        changelog.report_position(session, "search:bench:/index", top)
        session.commit()
        checks = []
        for _ in range(200):
            started = time.perf_counter()
            changelog.pruned_upto(session)
            checks.append(time.perf_counter() - started)
        session.rollback()
        batches = []
        while True:
            started = time.perf_counter()
            report = changelog.prune(session, keep_seconds=86400, forget_seconds=3 * 86400)
            session.commit()
            if not report.deleted:
                break
            batches.append(time.perf_counter() - started)
        left = session.execute(select(func.count()).select_from(Change)).scalar()
    engine.dispose()
    total = sum(batches)
    print(
        f"| {label} | {count:,} | {len(batches)} | {total:.1f} | {count / total:,.0f} | "
        f"{max(batches) * 1000:.0f} | {statistics.median(checks) * 1000:.2f} | {left} |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--autosaves", type=int, default=300)
    parser.add_argument("--changes", type=int, default=500_000)
    parser.add_argument("--postgres", help="a PostgreSQL database to empty and use")
    args = parser.parse_args()
    autosaves(args.autosaves)
    print()
    print(
        "| database | changes | batches | prune (s) | changes/s | slowest batch (ms) "
        "| pruned_upto check (ms) | rows left |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        prune_speed(f"sqlite:///{tmp}/bench.db", args.changes, "SQLite")
    if args.postgres:
        prune_speed(args.postgres, args.changes, "PostgreSQL")


if __name__ == "__main__":
    main()
