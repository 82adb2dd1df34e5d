"""Does search find the incident a person describes in their own words? MRR and recall@10
of Hindsight beside SQLite FTS5 (any word, bm25) on the public postmortems.

Every record of icco.jsonl and k8s_af.jsonl (the development set; danluu.jsonl is nearly all
inside icco.jsonl) becomes a published postmortem: its title, its longer narrative (where
the source has one) as the summary, and its short summary as the one contributing factor.
They are imported into a scratch SQLite database and indexed exactly as `kb search reindex`
does. The queries (bench/paraphrase_queries.toml) describe incidents in other words than
their write-ups; each names the records that answer it.

For each engine: MRR@10 (1/rank of the first record that answers, 0 past rank 10) and
recall@10 (the share of the answering records in the top 10), averaged over the queries.

- Hindsight: kb.search.query.search as a reader who may see everything, as the search page
  runs it (synonyms, question words, most-of-the-words, corrections).
- Hindsight without synonyms: the same with an empty synonyms table, to show their share.
- FTS5: the same three texts in an FTS5 table (porter tokenizer), `bm25(fts, 3, 2, 1)` (the
  same field weights as Hindsight's), every word of the query joined by OR.

    .venv/bin/python bench/search_quality.py [--data DIR] [--queries FILE] [--json] [--show]

Exit status 1 when Hindsight is below FTS5 on MRR or recall@10. Writes nothing into the
project.
"""

import argparse
import json
import re
import sqlite3
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import scratch  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "public-postmortems"
DEFAULT_QUERIES = ROOT / "bench" / "paraphrase_queries.toml"
FILES = ("icco.jsonl", "k8s_af.jsonl")
TOP = 10


def records(data):
    out = []
    for name in FILES:
        for line in (data / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
    return out


def to_document(record, number):
    """A published postmortem document for one record."""
    summary = " ".join((record.get("summary") or "").split())
    narrative = (record.get("description") or "").strip() or summary or "No summary."
    title = " ".join((record.get("title") or record.get("company") or "Untitled").split())
    if len(title) < 3:
        title = f"{title} incident"
    doc = {
        "ref": f"PUB-2000-{number:04d}",
        "title": title[:200],
        "status": "published",
        "severity": "SEV3",
        "started_at": "2020-01-01T00:00:00Z",
        "published_at": "2020-01-02T00:00:00Z",
        "summary": narrative,
    }
    if summary:
        doc["contributing_factors"] = [{"text": summary[:2000]}]
    return doc


def load_queries(path):
    with open(path, "rb") as handle:
        return tomllib.load(handle)["query"]


def answers(query, ids):
    """The record ids a query's `relevant` entries name (an entry may be an id's start)."""
    return {i for i in ids if any(i.startswith(r) for r in query["relevant"])}


def score(ranked, relevant):
    """(reciprocal rank within TOP, recall within TOP) of one ranked list of ids."""
    top = ranked[:TOP]
    rr = next((1.0 / (n + 1) for n, i in enumerate(top) if i in relevant), 0.0)
    return rr, len(relevant & set(top)) / len(relevant)


def hindsight_rankings(documents, queries, ref_to_id, table=None):
    from kb import create_app
    from kb.search import query as search_query
    from kb.search.index import for_app
    from kb.search.service import service_for

    with scratch.database(documents, "quality") as (folder, url, _engine):
        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": folder,
                "INDEX_DIR": f"{folder}/index",
                "SECRET_KEY": "bench",
                "SEARCH_SYNC": "inline",
                "LOG_FORMAT": "text",
            }
        )
        out = {}
        with app.app_context():
            service_for(app).syncer.run_once()
            for variant, synonyms_table in (("hindsight", None), ("no synonyms", table)):
                rankings = []
                for q in queries:
                    result = search_query.search(
                        for_app(app), None, q["text"], per_page=TOP, synonym_table=synonyms_table
                    )
                    rankings.append(([ref_to_id[h.ref] for h in result.hits], result))
                out[variant] = rankings
            for_app(app).close()
    return out


def fts5_rankings(documents, queries, ref_to_id):
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE fts USING fts5(ref UNINDEXED, title, factors, body,"
        " tokenize='porter unicode61')"
    )
    db.executemany(
        "INSERT INTO fts VALUES (?, ?, ?, ?)",
        [
            (
                d["ref"],
                d["title"],
                " ".join(f["text"] for f in d.get("contributing_factors", ())),
                d["summary"],
            )
            for d in documents
        ],
    )
    out = []
    for q in queries:
        words = dict.fromkeys(re.findall(r"\w+", q["text"].lower()))
        match = " OR ".join(f'"{w}"' for w in words)
        rows = db.execute(
            "SELECT ref FROM fts WHERE fts MATCH ? ORDER BY bm25(fts, 3.0, 2.0, 1.0) LIMIT ?",
            (match, TOP),
        ).fetchall()
        out.append([ref_to_id[r] for (r,) in rows])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--show", action="store_true", help="print each query's ranks")
    args = parser.parse_args()

    from kb.search import synonyms

    recs = records(args.data)
    documents = [to_document(r, n + 1) for n, r in enumerate(recs)]
    ref_to_id = {d["ref"]: r["id"] for d, r in zip(documents, recs, strict=True)}
    ids = [r["id"] for r in recs]
    queries = load_queries(args.queries)
    relevant = [answers(q, ids) for q in queries]
    missing = [q["text"] for q, rel in zip(queries, relevant, strict=True) if not rel]
    if missing:
        sys.exit(f"queries naming no record of the data: {missing}")

    ours = hindsight_rankings(documents, queries, ref_to_id, table=synonyms.Table())
    engines = {
        "Hindsight": [ranked for ranked, _r in ours["hindsight"]],
        "Hindsight without synonyms": [ranked for ranked, _r in ours["no synonyms"]],
        "SQLite FTS5 (any word, bm25)": fts5_rankings(documents, queries, ref_to_id),
    }
    figures = {}
    for name, rankings in engines.items():
        scores = [score(r, rel) for r, rel in zip(rankings, relevant, strict=True)]
        figures[name] = {
            "mrr": sum(s[0] for s in scores) / len(scores),
            "recall@10": sum(s[1] for s in scores) / len(scores),
            "found in top 10": sum(1 for s in scores if s[0] > 0),
        }
    if args.show:
        fts = engines["SQLite FTS5 (any word, bm25)"]
        for n, (q, rel) in enumerate(zip(queries, relevant, strict=True)):
            ranked, result = ours["hindsight"][n]
            rank = next((i + 1 for i, x in enumerate(ranked) if x in rel), "-")
            frank = next((i + 1 for i, x in enumerate(fts[n]) if x in rel), "-")
            note = f"total {result.total}" + (f" most {result.min_words}" if result.relaxed else "")
            print(f"{rank!s:>2} {frank!s:>2}  {q['text'][:70]:70}  {note}")
    if args.json:
        print(json.dumps({"documents": len(documents), "queries": len(queries), **figures}))
    else:
        print(f"{len(documents)} postmortems, {len(queries)} paraphrase queries\n")
        print("| engine | MRR@10 | recall@10 | queries answered in the top 10 |")
        print("| --- | --- | --- | --- |")
        for name, f in figures.items():
            print(
                f"| {name} | {f['mrr']:.3f} | {f['recall@10']:.3f} | "
                f"{f['found in top 10']} of {len(queries)} |"
            )
    ours_f, fts_f = figures["Hindsight"], figures["SQLite FTS5 (any word, bm25)"]
    if ours_f["mrr"] < fts_f["mrr"] or ours_f["recall@10"] < fts_f["recall@10"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
