"""The worst inputs we know of, each timed: no request should cost more than about a second.

Run: .venv/bin/python bench/worst_inputs.py [--docs 1000] [--keep DIR]

1. loads `--docs` synthetic postmortems (bench/corpus.py) whose sections also carry made-up
   words from a vocabulary of 60,000 (so wildcards and ranges have a wide term list to walk),
   and builds the search index with `kb search reindex`;
2. in this process, as a reader with two teams: the searches `?*`, `[a TO z]`,
   `*a* *b* *c* *d*`, the longest wildcard list a query may hold, one wildcard more (refused),
   55 misspelt words (did-you-mean); each timed in CPU and wall-clock seconds;
3. an ordinary search while three threads run the bad searches above in a loop;
4. the word diff of two versions whose nine sections hold 1,000 repetitive words each, and the
   plain text the index takes from 50 KB of brackets or line breaks;
5. Markdown: `POST /postmortems/preview` of 16 KB and 50 KB of `[[[...]]]` and of other
   quadratic inputs, the first view of a postmortem holding them, and the save of one whose
   nine sections are all slow to render.
Prints Markdown for docs/performance.md. Writes nothing into the project.
"""

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import corpus  # noqa: E402
import search_bench  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KB = str(ROOT / ".venv" / "bin" / "kb")
PASSWORD = "correct horse battery"
SYLLABLES = [a + b for a in "bcdfghjklmnprstvwz" for b in "aeiou"]  # 85 syllables


def vocabulary(count=60_000, seed=3):
    """`count` distinct made-up words of two to four syllables."""
    rng = random.Random(seed)
    words = set()
    while len(words) < count:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def varied_documents(count):
    """The corpus, each section with made-up words added (a varied vocabulary)."""
    rng = random.Random(11)
    words = vocabulary()
    docs = corpus.documents(count)
    for doc in docs:
        for section in ("summary", "impact", "response", "lessons"):
            doc[section] += " " + " ".join(rng.choice(words) for _ in range(60)) + "."
    return docs


def timed(function, *args, **kwargs):
    """(result, CPU seconds of this thread, wall seconds)."""
    cpu, wall = time.thread_time(), time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.thread_time() - cpu, time.perf_counter() - wall


def misspelt_words(count=55, seed=5):
    """Real corpus words with one letter changed."""
    rng = random.Random(seed)
    words = sorted({w for w in corpus.WORDS if len(w) > 4 and w.isalpha()})
    out = []
    for word in rng.sample(words, min(count, len(words))):
        i = rng.randrange(1, len(word) - 1)
        out.append(word[:i] + "q" + word[i + 1 :])
    while len(out) < count:
        out.append(rng.choice(out) + "x")
    return " ".join(out)


BAD_SEARCHES = {
    "`?*`": "?*",
    "`[a TO z]`": "[a TO z]",
    "`*a* *b* *c* *d*`": "*a* *b* *c* *d*",
    "`*a* *b* ... *h*` (8 wildcards, the most a query may hold)": " ".join(
        f"*{c}*" for c in "abcdefgh"
    ),
    "`*a* ... *i*` (9 wildcards: refused with a message)": " ".join(f"*{c}*" for c in "abcdefghi"),
    "55 misspelt words (did-you-mean)": misspelt_words(),
}


def searches(app, user, rows):
    from kb.search import query as search_query
    from kb.search.index import for_app

    index = for_app(app)
    with app.app_context():
        search_query.search(index, user, "connection pool")  # open the searchers
        for label, text in BAD_SEARCHES.items():
            result, cpu, wall = timed(search_query.search, index, user, text)
            note = result.error or (
                f"{result.total} matches"
                + (", cut" if result.cut else "")
                + (
                    f", suggests {len(result.suggestion.split())} words"
                    if result.suggestion
                    else ""
                )
            )
            rows.append((f"search {label}", cpu, wall, note))


def beside_bad_ones(app, user, rows):
    """An ordinary search while three threads keep running bad ones."""
    from kb.search import query as search_query
    from kb.search.index import for_app

    index = for_app(app)
    stop = threading.Event()
    bad = list(BAD_SEARCHES.values())[:3]

    def hammer(text):
        with app.app_context():
            while not stop.is_set():
                search_query.search(index, user, text)

    threads = [threading.Thread(target=hammer, args=(text,)) for text in bad]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    walls, cpus = [], []
    with app.app_context():
        for text in ("connection pool", "certificate expired", "retry storm", "dns resolver"):
            _result, cpu, wall = timed(search_query.search, index, user, text)
            walls.append(wall)
            cpus.append(cpu)
    stop.set()
    for thread in threads:
        thread.join()
    rows.append(
        (
            "an ordinary search beside three bad ones (worst of 4)",
            max(cpus),
            max(walls),
            f"median wall {statistics.median(walls):.3f} s",
        )
    )


def word_diff(rows):
    from kb import diff
    from kb.models import SECTIONS

    for label, before, after in (
        ("1,000 words `a` against 1,000 words `b`", "a " * 1000, "b " * 1000),
        ("1,000 words `a b a b` against `a c a c`", "a b " * 500, "a c " * 500),
        ("1,000 words, one inserted in the middle", "a " * 1000, "a " * 500 + "b " + "a " * 500),
    ):
        old = {field: before for field in SECTIONS}
        new = {field: after for field in SECTIONS}
        changes, cpu, wall = timed(diff.compare, old, new)
        exact = sum(1 for c in changes if c.exact)
        rows.append((f"word diff, 9 sections of {label}", cpu, wall, f"{exact} of 9 word by word"))


def index_text(rows):
    """The plain text the search index takes from a section (on every save)."""
    from kb.search import schema

    for label, text in (
        ("50 KB of `[`", "[" * 50_000),
        ("50 KB of `<`", "<" * 50_000),
        ("50,000 line breaks", "a" + "\n" * 49_998 + "a"),
    ):
        _plain, cpu, wall = timed(schema.plain, text)
        rows.append((f"text for the search index from {label}", cpu, wall, ""))


MARKDOWN = {
    "16 KB of `[[[...]]]`": "[" * 8000 + "]" * 8000,
    "50 KB of `[[[...]]]`": "[" * 25000 + "]" * 25000,
    "50 KB of `[a](`": "[a](" * 12500,
    "50 KB of ``` ``a` ``` (budget)": "``a`" * 12500,
    "50 KB of setext headings `a\\n=\\n` (budget)": "a\n=\n" * 12500,
    "50 KB of `~~~a` lines": "~~~a\n" * 10000,
}


def markdown_requests(app, rows):
    from kb import accounts, markdown, postmortems
    from kb.db import get_session
    from kb.document import validate
    from kb.models import SECTIONS

    with app.app_context():
        session = get_session()
        accounts.create_user(session, "bench-author@x.example", "author", password=PASSWORD)
        session.commit()
        for n, text in enumerate(MARKDOWN.values()):
            doc = corpus.document(990_000 + n, random.Random(n))
            doc.update(ref=f"MD-2026-{n:03d}", summary=text, visibility="internal")
            postmortems.save_document(session, validate(doc))
            session.commit()
        doc = corpus.document(995_000, random.Random(7))
        doc.update(ref="MD-2026-999", visibility="internal")
        doc.update({field: "a\n=\n" * 12_000 + field for field in SECTIONS})
        _pm, cpu, wall = timed(postmortems.save_document, session, validate(doc))
        session.commit()
        rows.append(("save of a postmortem whose 9 sections are 48 KB of setext", cpu, wall, ""))
    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    client.post(
        "/sign-in",
        data={"email": "bench-author@x.example", "password": PASSWORD, "csrf_token": token},
    )
    page = client.get("/").get_data(as_text=True)  # signing in starts a new session
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    for n, (label, text) in enumerate(MARKDOWN.items()):
        markdown.render_checked.cache_clear()
        response, cpu, wall = timed(
            client.post, "/postmortems/preview", data={"text": text, "csrf_token": token}
        )
        notice = response.get_json()["notice"] or "formatted"
        rows.append((f"preview of {label}", cpu, wall, f"{response.status_code}: {notice}"))
        markdown.render_checked.cache_clear()
        response, cpu, wall = timed(client.get, f"/postmortems/MD-2026-{n:03d}")
        rows.append((f"first view of a postmortem holding {label}", cpu, wall, response.status))
    markdown.render_checked.cache_clear()
    _, cpu, wall = timed(postmortems.section_html, _with_stored_renders_removed(app, "MD-2026-001"))
    rows.append(("fallback render of 50 KB of `[[[...]]]` (no stored HTML)", cpu, wall, ""))


def _with_stored_renders_removed(app, ref):
    from kb import postmortems
    from kb.db import get_session

    with app.app_context():
        session = get_session()
        pm = postmortems.get(session, ref, None)
        pm.rendered = []
        session.flush()
        return pm


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--keep", help="use this folder (kept) instead of a temporary one")
    args = parser.parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix="kb-worst-inputs-")
    instance = str(Path(folder) / "instance")
    env = {**os.environ, "KB_INSTANCE_PATH": instance}
    Path(instance).mkdir(parents=True, exist_ok=True)
    log = lambda message: print(f"# {time.strftime('%H:%M:%S')} {message}", file=sys.stderr)  # noqa: E731

    docs = varied_documents(args.docs)
    subprocess.run([KB, "db", "upgrade"], env=env, check=True, capture_output=True)
    search_bench.load_database(f"sqlite:///{instance}/hindsight.db", docs)
    subprocess.run([KB, "search", "reindex"], env=env, check=True, capture_output=True)
    log(f"{len(docs)} postmortems loaded and indexed")

    from kb import accounts, create_app
    from kb.db import get_session
    from kb.search.index import for_app

    app = create_app({"INSTANCE_PATH": instance, "SEARCH_SYNC": "off"})
    with app.app_context():
        session = get_session()
        user = accounts.create_user(
            session, "bench-reader@x.example", "reader", teams=search_bench.READER_TEAMS
        )
        session.commit()
        session.refresh(user)
        assert user.teams  # loaded now: the user is used outside this session
        session.expunge(user)
        with for_app(app).searcher() as searcher:
            terms = sum(1 for _ in searcher.reader().lexicon("content"))
    log(f"{terms:,} distinct words in the index")

    rows = []
    searches(app, user, rows)
    log("searches done")
    beside_bad_ones(app, user, rows)
    log("concurrent searches done")
    word_diff(rows)
    index_text(rows)
    log("word diff and index text done")
    markdown_requests(app, rows)
    log("markdown done")

    cpu_name = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"{time.strftime('%Y-%m-%d')}, {cpu_name}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {args.docs:,} postmortems, {terms:,} distinct words in "
        "the index.\n"
    )
    print("| input | CPU (s) | wall (s) | outcome |")
    print("| --- | --- | --- | --- |")
    for label, cpu, wall, note in rows:
        print(f"| {label} | {cpu:.3f} | {wall:.3f} | {note} |")
    print(f"\nWorst CPU: {max(r[1] for r in rows):.3f} s.")


if __name__ == "__main__":
    main()
