"""Search benchmark: Whoosh (kb.search) side by side with SQLite FTS5, on one synthetic corpus.

Run: .venv/bin/python bench/search_bench.py [--docs 50000] [--queries 200] [--keep DIR]

1. loads `--docs` synthetic postmortems (bench/corpus.py) into a fresh SQLite database;
2. times `kb search reindex` (a subprocess, as an operator would run it);
3. in a fresh "worker" process: 200 fixed one- to three-word queries, each a search with
   highlights of the top 10 and all facet counts, as a reader with two teams (so the
   visibility filter is applied); reports p50/p95 and the worker's peak memory;
4. the same queries against an FTS5 table of the same documents (bm25 with the same field
   weights, snippet() of the top 10, the same seven facet counts with GROUP BY, the same
   visibility rule in SQL);
5. save-to-searchable: one process saves and polls search for its new word while another
   process saves continuously.
Prints Markdown for docs/performance.md. Writes nothing into the project.
"""

import argparse
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
KB = str(ROOT / ".venv" / "bin" / "kb")
READER_TEAMS = ("payments", "sre")


def queries(count=200, seed=5):
    """Fixed one- to three-word queries drawn from the corpus vocabulary."""
    rng = random.Random(seed)
    words = sorted(
        set(corpus.WORDS)
        | {w for s in corpus.SUBJECTS for w in s.split() if len(w) > 3 and w.isalpha()}
        | {w for s in corpus.VERBS for w in s.split() if len(w) > 3 and w.isalpha()}
        | {w for s in corpus.OBJECTS for w in s.split() if len(w) > 3 and w.isalpha()}
    )
    out = []
    while len(out) < count:
        n = rng.choice((1, 1, 2, 2, 3))
        out.append(" ".join(rng.sample(words, n)))
    return out


# --- 1. the database ----------------------------------------------------------------------


def load_database(url, docs):
    """Bulk-insert the corpus with plain inserts (save_document is far too slow for 50k)."""
    from sqlalchemy import create_engine, insert

    from kb.document import parse_datetime
    from kb.document_format import LABEL_FIELDS
    from kb.models import (
        SECTIONS,
        ActionItem,
        Change,
        Factor,
        Label,
        Postmortem,
        utcnow,
    )

    engine = create_engine(url)
    now = utcnow()
    with engine.begin() as connection:
        for start in range(0, len(docs), 2000):
            chunk = docs[start : start + 2000]
            pms, labels, factors, actions, changes = [], [], [], [], []
            for i, doc in enumerate(chunk, start=start + 1):
                row = {k: doc.get(k) for k in ("ref", "title", "kind", "status", "severity")}
                row.update(id=i, visibility=doc["visibility"], trigger=doc["trigger"])
                for key in ("started_at", "detected_at", "mitigated_at", "resolved_at"):
                    row[key] = parse_datetime(doc[key])
                row["published_at"] = parse_datetime(doc["published_at"])
                for key in SECTIONS:
                    row[key] = doc.get(key) or ""
                row.update(
                    timeline=doc["timeline"], links=[], version=1, created_at=now, updated_at=now
                )
                pms.append(row)
                for field in LABEL_FIELDS:
                    for p, value in enumerate(doc.get(field, ())):
                        labels.append(
                            {"postmortem_id": i, "field": field, "value": value, "position": p}
                        )
                for p, f in enumerate(doc["contributing_factors"]):
                    factors.append(
                        {
                            "postmortem_id": i,
                            "position": p,
                            "text": f["text"],
                            "category": f["category"],
                        }
                    )
                for p, a in enumerate(doc["action_items"]):
                    actions.append(
                        {
                            "postmortem_id": i,
                            "position": p,
                            "title": a["title"],
                            "status": a["status"],
                        }
                    )
                changes.append(
                    {"id": i, "postmortem_id": i, "ref": doc["ref"], "op": "upsert", "at": now}
                )
            connection.execute(insert(Postmortem), pms)
            connection.execute(insert(Label), labels)
            connection.execute(insert(Factor), factors)
            connection.execute(insert(ActionItem), actions)
            connection.execute(insert(Change), changes)
    engine.dispose()


# --- 3. the Whoosh worker -----------------------------------------------------------------


def worker(instance, query_file, out_file):
    """Runs in its own process: open the app, search every query, report times and memory."""
    from kb import accounts, create_app
    from kb.db import get_session
    from kb.search import query as search_query
    from kb.search.index import for_app

    app = create_app({"INSTANCE_PATH": instance, "SEARCH_SYNC": "off"})
    qs = json.loads(Path(query_file).read_text())
    with app.app_context():
        session = get_session()
        user = accounts.create_user(session, "bench-reader@x.example", "reader", teams=READER_TEAMS)
        session.commit()
        idx = for_app(app)
        started = time.perf_counter()
        with idx.searcher():
            pass
        open_ms = (time.perf_counter() - started) * 1000
        for q in queries(20, seed=99):  # warm-up on other queries
            search_query.search(idx, user, q)
        times, totals = [], []
        for q in qs:  # first pass: each query once, in a fresh worker
            started = time.perf_counter()
            result = search_query.search(idx, user, q)
            assert len(result.hits) <= 10 and all(h.passage for h in result.hits), q
            times.append((time.perf_counter() - started) * 1000)
            totals.append(result.total)
        warm = []
        for q in qs:  # second pass: the posting lists of these words are now in memory
            started = time.perf_counter()
            search_query.search(idx, user, q)
            warm.append((time.perf_counter() - started) * 1000)
        newest = []
        for q in qs[:50]:
            started = time.perf_counter()
            search_query.search(idx, user, q, sort="newest")
            newest.append((time.perf_counter() - started) * 1000)
        status = dict(
            line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()
        )
        # The same queries with the term cache off: every posting list is read from disk and
        # decoded again (the worst case: a vocabulary far larger than the cache).
        from kb.search import segments

        budget = segments._TERM_CACHE_BYTES, segments._SATURATED_BYTES
        segments._TERM_CACHE_BYTES = segments._SATURATED_BYTES = 0
        idx.caches.clear()
        cold = []
        for q in qs:
            started = time.perf_counter()
            search_query.search(idx, user, q)
            cold.append((time.perf_counter() - started) * 1000)
        segments._TERM_CACHE_BYTES, segments._SATURATED_BYTES = budget
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a worker
    # started by this (large) process would report the parent's size.
    peak = int(status["VmHWM"].split()[0]) / 1024
    anon = int(status["RssAnon"].split()[0]) / 1024
    Path(out_file).write_text(
        json.dumps(
            {
                "times": times,
                "totals": totals,
                "newest": newest,
                "cold": cold,
                "warm": warm,
                "anon_mib": anon,
                "open_ms": open_ms,
                "peak_mib": peak,
            }
        )
    )


# --- 4. FTS5 ------------------------------------------------------------------------------


def build_fts(path, docs):
    from kb.search.schema import PART, fields_for

    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE VIRTUAL TABLE fts USING fts5(title, factors, body, tokenize='porter unicode61');
        CREATE TABLE meta (id INTEGER PRIMARY KEY, severity TEXT, kind TEXT, status TEXT,
                           year TEXT, visibility TEXT);
        CREATE TABLE facet (id INTEGER, field TEXT, value TEXT);
        CREATE INDEX facet_id ON facet (id, field);
        """
    )
    started = time.perf_counter()
    for i, doc in enumerate(docs, start=1):
        f = fields_for(i, doc)
        db.execute(
            "INSERT INTO fts (rowid, title, factors, body) VALUES (?, ?, ?, ?)",
            (i, f["title"], f["factors"], f["content"].split(PART)[2]),
        )
        db.execute(
            "INSERT INTO meta VALUES (?, ?, ?, ?, ?, ?)",
            (i, f["severity"], f["kind"], f["status"], f["year"], f["visibility"]),
        )
        for field in ("services", "teams", "tags"):
            for value in f[field].split(","):
                db.execute("INSERT INTO facet VALUES (?, ?, ?)", (i, field, value))
        for value in f["acl"].split(","):
            if value:
                db.execute("INSERT INTO facet VALUES (?, 'acl', ?)", (i, value))
    db.commit()
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


def fts_search(db, q):
    visible = (
        "(m.visibility = 'internal' OR EXISTS (SELECT 1 FROM facet a WHERE a.id = m.id AND "
        "a.field = 'acl' AND a.value IN ('team:payments', 'team:sre', "
        "'person:bench-reader@x.example')))"
        # A draft or one in review only when one of its teams is the reader's
        # (KB_UNPUBLISHED_READERS=involved, the default).
        " AND (m.status = 'published' OR EXISTS (SELECT 1 FROM facet t WHERE t.id = m.id AND "
        "t.field = 'teams' AND t.value IN ('payments', 'sre')))"
    )
    db.execute("DROP TABLE IF EXISTS temp.hits")
    db.execute(
        "CREATE TEMP TABLE hits AS SELECT m.id FROM fts JOIN meta m ON m.id = fts.rowid "  # noqa: S608
        f"WHERE fts MATCH ? AND {visible}",
        (q,),
    )
    total = db.execute("SELECT count(*) FROM hits").fetchone()[0]
    # Rank first, then make snippets for the ten rows only (snippet() is the costly part).
    ranked = db.execute(
        "SELECT fts.rowid FROM fts JOIN meta m ON m.id = fts.rowid "  # noqa: S608
        f"WHERE fts MATCH ? AND {visible} ORDER BY bm25(fts, 3.0, 2.0, 1.0) LIMIT 10",
        (q,),
    ).fetchall()
    ids = ",".join(str(r[0]) for r in ranked) or "0"
    top = db.execute(
        "SELECT fts.rowid, snippet(fts, -1, '<mark>', '</mark>', ' … ', 24) FROM fts "  # noqa: S608
        f"WHERE fts MATCH ? AND fts.rowid IN ({ids})",
        (q,),
    ).fetchall()
    facets = {}
    for column in ("severity", "kind", "status", "year"):
        facets[column] = db.execute(
            f"SELECT m.{column}, count(*) FROM hits h JOIN meta m ON m.id = h.id GROUP BY 1"  # noqa: S608
        ).fetchall()
    for field in ("services", "teams", "tags"):
        facets[field] = db.execute(
            "SELECT f.value, count(*) FROM hits h JOIN facet f ON f.id = h.id AND f.field = ? "
            "GROUP BY 1",
            (field,),
        ).fetchall()
    return total, top, facets


def fts_measure(path, qs):
    db = sqlite3.connect(path)
    for q in queries(20, seed=99):
        fts_search(db, q)
    times, totals = [], []
    for q in qs:
        started = time.perf_counter()
        total, _top, _facets = fts_search(db, q)
        times.append((time.perf_counter() - started) * 1000)
        totals.append(total)
    db.close()
    return times, totals


# --- 5. save to searchable ----------------------------------------------------------------


def writer_loop(instance, seconds):
    """Runs in its own process: save postmortems continuously for `seconds`."""
    from kb import create_app, postmortems
    from kb.db import get_session
    from kb.document import validate

    app = create_app({"INSTANCE_PATH": instance})
    rng = random.Random(7)
    deadline = time.monotonic() + seconds
    n = 0
    with app.app_context():
        session = get_session()
        while time.monotonic() < deadline:
            doc = corpus.document(900000 + n, rng)
            doc["ref"] = f"WRT-2026-{n:06d}"
            postmortems.save_document(session, validate(doc))
            session.commit()  # the commit hook applies the change log (inline outside requests)
            n += 1
    print(n)


def save_to_searchable(instance, rounds):
    from kb import create_app, postmortems
    from kb.db import get_session
    from kb.document import validate
    from kb.search import query as search_query
    from kb.search.index import for_app

    writer = subprocess.Popen(
        [PYTHON, __file__, "--writer", instance, str(rounds * 1.5 + 20)],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    app = create_app({"INSTANCE_PATH": instance})
    rng = random.Random(11)
    latencies = []
    with app.app_context():
        session = get_session()
        idx = for_app(app)
        for n in range(rounds):
            word = f"zebrafinch{n}x"
            doc = corpus.document(800000 + n, rng)
            doc.update(ref=f"LAT-2026-{n:06d}", title=f"{doc['title']} {word}")
            started = time.perf_counter()
            postmortems.save_document(session, validate(doc))
            session.commit()
            while search_query.search(idx, None, word).total == 0:
                if time.perf_counter() - started > 10:
                    break
                time.sleep(0.005)
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.3)
    saved = writer.communicate()[0].strip()
    return latencies, saved


# --- main ---------------------------------------------------------------------------------


def _children_cpu():
    """CPU seconds (user + system) of the finished child processes of this one so far: on a
    machine shared with other work, a steadier measure than the wall clock."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker(*sys.argv[2:5])
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        return writer_loop(sys.argv[2], float(sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=40, help="save-to-searchable samples")
    parser.add_argument("--procs", type=int, default=2, help="indexing processes for reindex")
    parser.add_argument("--keep", help="use this folder (kept) instead of a temporary one")
    args = parser.parse_args()

    folder = args.keep or tempfile.mkdtemp(prefix="kb-search-bench-")
    instance = str(Path(folder) / "instance")
    env = {**os.environ, "KB_INSTANCE_PATH": instance}
    Path(instance).mkdir(parents=True, exist_ok=True)
    log = lambda message: print(f"# {time.strftime('%H:%M:%S')} {message}", file=sys.stderr)  # noqa: E731

    docs = corpus.documents(args.docs)
    words = sum(
        len(str(v).split()) for d in docs[:200] for k, v in d.items() if isinstance(v, str)
    ) / min(200, len(docs))
    log(f"{len(docs)} documents, ~{words:.0f} words each")
    subprocess.run([KB, "db", "upgrade"], env=env, check=True, capture_output=True)
    # Load without the search hook: the point is to time the reindex on its own.
    load_database(f"sqlite:///{instance}/hindsight.db", docs)
    log("database loaded")

    started = time.perf_counter()
    cpu_before = _children_cpu()
    subprocess.run(
        [KB, "search", "reindex", "--procs", str(args.procs)],
        env=env,
        check=True,
        stderr=subprocess.DEVNULL,
    )
    reindex_s = time.perf_counter() - started
    reindex_cpu = _children_cpu() - cpu_before
    log(f"reindex {reindex_s:.1f} s ({reindex_cpu:.1f} s of CPU)")
    check = subprocess.run([KB, "search", "check"], env=env, capture_output=True, text=True)
    log(f"check exit {check.returncode}: {check.stdout.strip().splitlines()[-1]}")
    size_mib = sum(p.stat().st_size for p in Path(instance, "index").iterdir()) / 1_048_576

    qs = queries(args.queries)
    query_file = Path(folder) / "queries.json"
    query_file.write_text(json.dumps(qs))
    out_file = Path(folder) / "worker.json"
    subprocess.run(
        [PYTHON, __file__, "--worker", instance, str(query_file), str(out_file)], check=True
    )
    whoosh = json.loads(out_file.read_text())
    log("whoosh queries done")

    fts_path = str(Path(folder) / "fts.db")
    cpu_before = time.process_time()
    fts_build_s = build_fts(fts_path, docs)
    fts_build_cpu = time.process_time() - cpu_before
    fts_times, fts_totals = fts_measure(fts_path, qs)
    log("fts5 queries done")
    agree = sum(1 for a, b in zip(whoosh["totals"], fts_totals, strict=True) if a == b)

    latencies, written = save_to_searchable(instance, args.rounds)
    log("save-to-searchable done")
    final = subprocess.run([KB, "search", "check"], env=env, capture_output=True, text=True)

    w50, w95 = pct(whoosh["times"], 50), pct(whoosh["times"], 95)
    f50, f95 = pct(fts_times, 50), pct(fts_times, 95)
    print(
        f"Corpus: {args.docs:,} synthetic postmortems (~{words:.0f} words each), "
        f"{len(qs)} fixed queries; median matches per query "
        f"{statistics.median(whoosh['totals']):,.0f}.\n"
    )
    print("| measure | Whoosh (kb.search) | SQLite FTS5 | ratio Whoosh/FTS5 | target |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| search p50 (ms) | {w50:.1f} | {f50:.1f} | {w50 / f50:.3f} | <= 10 |")
    print(f"| search p95 (ms) | {w95:.1f} | {f95:.1f} | {w95 / f95:.3f} | <= 60 |")
    print(f"| search max (ms) | {max(whoosh['times']):.1f} | {max(fts_times):.1f} | | |")
    print(
        f"| full index build (s) | {reindex_s:.1f} (`kb search reindex`, from the database) "
        f"| {fts_build_s:.1f} (inserts only) | {reindex_s / fts_build_s:.2f} | <= 120 |"
    )
    print(
        f"| full index build, CPU time (s) | {reindex_cpu:.1f} (the command and its "
        f"indexing processes) | {fts_build_cpu:.1f} | {reindex_cpu / fts_build_cpu:.2f} | "
        "<= 2 (ratio) |"
    )
    print(f"| totals equal to FTS5's | {agree} of {len(qs)} queries | | | |")
    print()
    print("| measure | value | target |")
    print("| --- | --- | --- |")
    print(
        f"| newest-first search p50 / p95 (ms), 50 queries | {pct(whoosh['newest'], 50):.1f} / "
        f"{pct(whoosh['newest'], 95):.1f} | |"
    )
    print(
        f"| search p50 / p95 (ms), second pass (warm term cache) | {pct(whoosh['warm'], 50):.1f}"
        f" / {pct(whoosh['warm'], 95):.1f} | |"
    )
    print(
        f"| search p50 / p95 (ms) with the term cache off | {pct(whoosh['cold'], 50):.1f} / "
        f"{pct(whoosh['cold'], 95):.1f} | |"
    )
    print(f"| opening the searcher in a new worker (ms) | {whoosh['open_ms']:.0f} | |")
    print(
        f"| worker peak memory (RSS, MiB); private memory, cache full | {whoosh['peak_mib']:.0f}; "
        f"{whoosh['anon_mib']:.0f} | <= 500 |"
    )
    print(f"| index size on disk (MiB) | {size_mib:.0f} | |")
    print(
        f"| save-to-searchable p50 / p95 / max (ms), {len(latencies)} saves while another "
        f"process saved {written} | {pct(latencies, 50):.0f} / {pct(latencies, 95):.0f} / "
        f"{max(latencies):.0f} | p95 <= 1000 |"
    )
    print(f"| `kb search check` after all of it | exit {final.returncode} | 0 |")


if __name__ == "__main__":
    main()
