"""How long composing one month's digest takes over a large corpus (target: <= 3 s at 50,000).

Run: .venv/bin/python bench/digest_compose.py [--count 50000] [--month 2025-06] [--themes]
     [--postgres URL]
The SQLite database is kept in /tmp/hindsight-bench-digest-<count>.db between runs (loading
50,000 documents takes minutes); --fresh rebuilds it. --themes runs the themes rebuild first
so the digest's theme section and recommended read have real input. Prints Markdown rows for
docs/performance.md.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from corpus import documents  # noqa: E402


def load(app, count):
    """Import `count` synthetic documents and three readers, unless already there."""
    from sqlmodel import func, select

    from kb import accounts, transfer
    from kb.db import get_session
    from kb.models import Postmortem

    with app.app_context():
        session = get_session()
        have = session.exec(select(func.count()).select_from(Postmortem)).one()
        if have >= count:
            return have, 0.0
        started = time.perf_counter()
        docs = documents(count)
        for first in range(0, count, 1000):
            batch = [
                transfer.Record("corpus", n, data=d)
                for n, d in enumerate(docs[first : first + 1000], first)
            ]
            report = transfer.import_records(session, batch)
            session.commit()
            assert report.ok, report.problems[:3]
            print(f"  loaded {first + len(batch):,}", file=sys.stderr, flush=True)
        for email, role, teams in (
            ("admin@bench.example", "admin", ()),
            ("reader@bench.example", "reader", ("payments",)),
        ):
            if accounts.get_user(session, email) is None:
                accounts.create_user(session, email, role, teams=teams)
        session.commit()
        return count, time.perf_counter() - started


def rebuild_themes(app):
    from kb.db import get_session
    from kb.insights import themes

    with app.app_context():
        session = get_session()
        started = time.perf_counter()
        report = themes.rebuild(session, force=True)
        session.commit()
        return time.perf_counter() - started, report


def measure(app, month, runs):
    """Best and median seconds to compose (and to render) for three kinds of reader."""
    from kb import accounts
    from kb.db import get_session
    from kb.digest.compose import INTERNAL_ONLY, compose
    from kb.digest.render import render
    from kb.months import parse_month

    rows = []
    with app.app_context():
        session = get_session()
        month = parse_month(month)
        viewers = [
            ("admin (everything)", accounts.get_user(session, "admin@bench.example")),
            ("reader in one team", accounts.get_user(session, "reader@bench.example")),
            ("distribution list (internal only)", INTERNAL_ONLY),
        ]
        for label, viewer in viewers:
            compose_times, render_times = [], []
            for _ in range(runs):
                session.expire_all()
                started = time.perf_counter()
                digest = compose(session, viewer, month)
                compose_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                content = render(digest, to="someone@bench.example")
                render_times.append(time.perf_counter() - started)
            rows.append((label, compose_times, render_times, digest, content))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50000)
    parser.add_argument("--month", default="2025-06")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--themes", action="store_true", help="rebuild the themes first")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached database")
    parser.add_argument("--postgres", help="use this PostgreSQL URL (emptied and loaded)")
    args = parser.parse_args()

    from kb import create_app, migrations

    if args.postgres:
        from sqlalchemy import create_engine, text

        from kb.config import normalise_database_url

        url = normalise_database_url(args.postgres)
        if args.fresh:
            engine = create_engine(url)
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            engine.dispose()
        name = "PostgreSQL"
    else:
        path = Path(f"/tmp/hindsight-bench-digest-{args.count}.db")
        if args.fresh and path.exists():
            path.unlink()
        url = f"sqlite:///{path}"
        name = "SQLite"
    migrations.upgrade("head", url=url)
    app = create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": "/tmp/hindsight-bench-digest-instance",
            "SECRET_KEY": "bench",
            "BASE_URL": "https://hindsight.bench.example",
        }
    )
    have, load_seconds = load(app, args.count)
    if load_seconds:
        print(f"<!-- loaded {have:,} documents in {load_seconds:.0f} s -->")
    if args.themes:
        seconds, report = rebuild_themes(app)
        print(f"<!-- themes rebuilt in {seconds:.1f} s: {report.themes} themes -->")

    print(
        "| database | postmortems | month | reader | compose best / median (s) | render (s) "
        "| incidents listed / published | themes | overdue actions |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = measure(app, args.month, args.runs)
    for label, compose_times, render_times, digest, _content in rows:
        print(
            f"| {name} | {have:,} | {args.month} | {label} | {min(compose_times):.2f} / "
            f"{statistics.median(compose_times):.2f} | {statistics.median(render_times):.3f} "
            f"| {len(digest.incidents)} / {digest.incidents_total} | {len(digest.themes)} "
            f"| {digest.actions_overdue:,} |"
        )
    print(f"<!-- subject: {rows[-1][4].subject} -->")


if __name__ == "__main__":
    main()
