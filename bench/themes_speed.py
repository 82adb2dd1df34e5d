"""Speed of themes, similar incidents and figures at 50,000 published postmortems.

1. `kb themes rebuild --force` on ~150,000 factors: wall time and peak memory (a child
   process, so its peak RSS is its own).
2. Similar incidents for one postmortem, and suggestions for typed text: per-call latency,
   for an admin and for a reader whose visibility filter has to be checked.
3. The figures dashboard for 24 months and the themes page, rendered by the app: the first
   view after a change (nothing cached for the new data version) and views after it.

    .venv/bin/python bench/themes_speed.py [--count 50000] [--db /tmp/hindsight-speed.db]

The database is made once from bench/corpus.py (every document published) with bulk
inserts, and kept for reruns. Prints Markdown for docs/performance.md.
"""

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import scratch  # noqa: E402

KB = str(ROOT / ".venv" / "bin" / "kb")


def _when(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if text else None


def populate(url, count):
    """Bulk-insert `count` published postmortems with labels, factors and action items."""
    from corpus import documents
    from sqlalchemy import insert
    from sqlmodel import Session

    from kb import migrations
    from kb.db import make_engine
    from kb.document_format import LABEL_FIELDS
    from kb.models import SECTIONS, ActionItem, Factor, Label, Postmortem

    migrations.upgrade("head", url=url)
    engine = make_engine(url)
    docs = documents(count)
    with Session(engine) as session:
        for start in range(0, count, 2000):
            batch = docs[start : start + 2000]
            rows = []
            for i, d in enumerate(batch, start=start + 1):
                row = {k: d[k] for k in ("title", "kind", "severity", "visibility", "trigger")}
                row.update({s: d.get(s, "") for s in SECTIONS})
                row.update(
                    id=i,
                    ref=f"SYN-2000-{i:06d}",
                    status="published",
                    timeline=[],
                    links=[],
                    **{t: _when(d[t]) for t in ("started_at", "detected_at", "resolved_at")},
                    mitigated_at=_when(d["mitigated_at"]),
                    published_at=_when(d["published_at"]),
                )
                rows.append(row)
            session.execute(insert(Postmortem), rows)
            labels, factors, actions = [], [], []
            for i, d in enumerate(batch, start=start + 1):
                for field in LABEL_FIELDS:
                    for p, value in enumerate(d.get(field) or []):
                        labels.append(
                            {"postmortem_id": i, "field": field, "value": value, "position": p}
                        )
                for p, f in enumerate(d["contributing_factors"]):
                    factors.append(
                        {
                            "postmortem_id": i,
                            "position": p,
                            "text": f["text"],
                            "category": f["category"],
                        }
                    )
                for p, a in enumerate(d["action_items"]):
                    actions.append(
                        {
                            "postmortem_id": i,
                            "position": p,
                            "title": a["title"][:300],
                            "status": a.get("status") or "open",
                            "due": date.fromisoformat(a["due"]) if a.get("due") else None,
                            "factor": a.get("factor"),
                        }
                    )
            session.execute(insert(Label), labels)
            session.execute(insert(Factor), factors)
            if actions:
                session.execute(insert(ActionItem), actions)
            session.commit()
    engine.dispose()


def rebuild(url, instance):
    env = {**os.environ, "KB_DATABASE_URL": url, "KB_INSTANCE_PATH": instance}
    started = time.perf_counter()
    result = subprocess.run(
        [KB, "themes", "rebuild", "--force"], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if result.returncode:
        sys.exit(result.stderr)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak_mib, result.stdout.strip()


def timed(function, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def lookups(url, instance):
    """Latencies (ms) of similar incidents, suggestions and the figures page."""
    from sqlmodel import Session, select

    from kb.insights import postings, similar
    from kb.models import Postmortem

    app = scratch.app_for(url, instance)
    engine = app.extensions["kb_engine"]
    with Session(engine, expire_on_commit=False) as session:
        reader, admin = scratch.users(session)
        rng = random.Random(7)
        ids = session.exec(select(Postmortem.id)).all()
        sample = [session.get(Postmortem, i) for i in rng.sample(ids, 60)]
        results = {}
        # Once per process and rebuild (a server worker does it in the background).
        started = time.perf_counter()
        postings.current(session)
        load = (time.perf_counter() - started) * 1000
        results["read the similar-incidents index into memory (once per rebuild)"] = (load, load)
        for name, user in (("admin", admin), ("reader", reader)):
            queue = list(sample)
            results[f"similar ({name})"] = timed(
                lambda u=user, q=queue: similar.similar_to(session, u, q.pop()), 50
            )
            # What an author has typed so far: a title and the start of a summary.
            texts = [f"{pm.title}. {pm.summary[:300]}" for pm in sample]
            results[f"suggest ({name})"] = timed(
                lambda u=user, t=texts: similar.suggest(session, u, t.pop()), 50
            )
        session.commit()

    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    token = page[page.index(marker) + len(marker) :].split('"', 1)[0]
    signed = client.post(
        "/sign-in",
        data={"email": scratch.READER, "password": scratch.PASSWORD, "csrf_token": token},
    )
    assert signed.status_code == 302, signed.status_code

    def figures():
        response = client.get("/figures?from=2024-01&to=2025-12")
        assert response.status_code == 200, response.status_code

    def themes_page():
        assert client.get("/themes").status_code == 200

    from sqlalchemy import insert, update

    from kb.insights import kpis, snapshot
    from kb.models import Change

    rng = random.Random(11)
    severities = ["SEV1", "SEV2", "SEV3", "SEV4"]

    def after_a_change(page):
        """A save as kb.postmortems makes it, seen by the data: one postmortem's row changes
        and a change-log row names it, in one transaction; then the page is viewed."""

        def run():
            pm_id = rng.choice(ids)
            with Session(engine) as session:
                session.exec(
                    update(Postmortem)
                    .where(Postmortem.id == pm_id)
                    .values(severity=rng.choice(severities))
                )
                session.exec(insert(Change).values(postmortem_id=pm_id, ref="bench", op="upsert"))
                session.commit()
            page()

        return run

    def new_process(page):
        def run():
            snapshot.for_engine.clear()  # as in a worker that has not shown figures yet
            kpis._memo_of.clear()
            page()

        return run

    figures_page = "figures page, 24 months (reader)"
    results[f"{figures_page}, first view in a new process"] = timed(new_process(figures), 5)
    results[f"{figures_page}, first view after a change"] = timed(after_a_change(figures), 20)
    results[f"{figures_page}, again"] = timed(figures, 10)
    results["themes page (reader), first view after a change"] = timed(
        after_a_change(themes_page), 7
    )
    results["themes page (reader), again"] = timed(themes_page, 10)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--db", default=f"{tempfile.gettempdir()}/hindsight-speed.db")
    args = parser.parse_args(argv)
    url = f"sqlite:///{args.db}"
    if not Path(args.db).exists():
        started = time.perf_counter()
        populate(url, args.count)
        print(f"populated {args.count} postmortems in {time.perf_counter() - started:.0f} s")
    with tempfile.TemporaryDirectory() as instance:
        seconds, peak, output = rebuild(url, instance)
        name = "rebuild themes (`kb themes rebuild --force`)"
        print(f"| {name} | {seconds:.1f} s | peak {peak:.0f} MiB |")
        print(f"|   {output} | | |")
        for name, (median, p95) in lookups(url, instance).items():
            print(f"| {name} | median {median:.1f} ms | p95 {p95:.1f} ms |")


if __name__ == "__main__":
    main()
