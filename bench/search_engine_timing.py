"""The search engine alone, in-process: matching, visibility, facets and ranking of fixed queries.

Run: .venv/bin/python bench/search_engine_timing.py [--docs 5000] [--index DIR] [--out FILE]

Builds (once, in DIR) an index of `--docs` synthetic postmortems (bench/corpus.py) straight
from the project's schema, then runs the 200 queries of bench/search_bench.py as a reader
with two teams (kb.search.ranking.run: masks, all facet counts, the top 10 ranked), three
passes with cold term caches, and prints the best median. `--out` writes each query's total,
top-10 refs and scores as JSON, to compare two versions of the code on the same index (run
one from an exported copy of the other commit). Writes nothing into the project.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import corpus  # noqa: E402
import search_bench  # noqa: E402

from kb.accounts import Scope  # noqa: E402
from kb.search import expand, ranking, schema  # noqa: E402
from kb.search import query as search_query  # noqa: E402
from kb.search.index import SearchIndex, state_fields  # noqa: E402


def build(idx, docs):
    ix = idx.create_empty()
    writer = ix.writer(limitmb=256)
    for n, doc in enumerate(corpus.documents(docs), start=1):
        writer.add_document(**schema.fields_for(n, doc))
    writer.add_document(**state_fields({"schema": schema.SCHEMA_VERSION, "upto": 0, "gaps": {}}))
    writer.commit()


def one_pass(idx, texts, scope):
    times, cpu, results = [], [], []
    with idx.searcher() as searcher:
        for text in texts:
            started, started_cpu = time.perf_counter(), time.process_time()
            q, _expansion = expand.expand(search_query.parse(text), searcher.reader())
            result = search_query.SearchResult(text=text)
            ranking.run(searcher, idx.caches, scope, q, result)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            results.append(
                [result.total, [h.ref for h in result.hits], [h.score for h in result.hits]]
            )
    return times, cpu, results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--index", help="index folder (built if empty, kept)")
    parser.add_argument("--out", help="write each query's total, refs and scores here")
    args = parser.parse_args()
    folder = None if args.index else tempfile.TemporaryDirectory(prefix="kb-engine-")
    idx = SearchIndex(args.index or folder.name)
    if not idx.exists():
        build(idx, args.docs)
    texts = search_bench.queries(200)
    scope = Scope(email="reader@example.com", teams=search_bench.READER_TEAMS)
    one_pass(idx, texts, scope)  # opens files and warms Python's own caches
    medians, cpu_medians = [], []
    for _ in range(3):
        idx.caches.clear()
        times, cpu, results = one_pass(idx, texts, scope)
        medians.append(statistics.median(times) * 1000)
        cpu_medians.append(statistics.median(cpu) * 1000)
    print(f"median per query, best of 3 cold-cache passes: {min(medians):.2f} ms")
    print(f"median CPU time per query, best of 3 passes: {min(cpu_medians):.2f} ms")
    print(f"sum of totals: {sum(r[0] for r in results)}")
    if args.out:
        Path(args.out).write_text(json.dumps(results))
    idx.close()


if __name__ == "__main__":
    main()
