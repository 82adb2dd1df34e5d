"""How long `kb import` takes for a 1,000-record .jsonl file with one bad record in it.

Run: .venv/bin/python bench/import_speed.py [--records 1000] [--postgres URL]
Writes nothing into the project; prints a Markdown table row for docs/performance.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import documents  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KB = str(ROOT / ".venv" / "bin" / "kb")


def run(records, database_url=None):
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "KB_INSTANCE_PATH": tmp}
        if database_url:
            env["KB_DATABASE_URL"] = database_url
        subprocess.run([KB, "db", "upgrade"], env=env, check=True, capture_output=True)
        source = Path(tmp) / "records.jsonl"
        docs = documents(records)
        bad_line = records // 2 + 37
        docs[bad_line - 1]["severity"] = "SEV9"
        source.write_text("".join(json.dumps(d) + "\n" for d in docs))
        started = time.perf_counter()
        result = subprocess.run(
            [KB, "import", str(source)], env=env, capture_output=True, text=True
        )
        elapsed = time.perf_counter() - started
        reported = f"{source}:{bad_line}: " in result.stderr and "severity" in result.stderr
        again = time.perf_counter()
        subprocess.run([KB, "import", str(source)], env=env, capture_output=True, text=True)
        second = time.perf_counter() - again
        return elapsed, second, result.returncode, reported, result.stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--postgres", help="also run against this PostgreSQL URL (emptied first)")
    args = parser.parse_args()
    targets = [("SQLite", None)]
    if args.postgres:
        targets.append(("PostgreSQL", args.postgres))
    print(
        "| database | records | import (s) | re-import, unchanged (s) | exit | bad line reported |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, url in targets:
        if url:
            from sqlalchemy import create_engine, text

            from kb.config import normalise_database_url

            url = normalise_database_url(url)
            target = create_engine(url).url
            admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:  # a fresh, empty database for each run
                connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}"'))
                connection.execute(text(f'CREATE DATABASE "{target.database}"'))
            admin.dispose()
        first, second, code, reported, summary = run(args.records, url)
        print(f"| {name} | {args.records} | {first:.2f} | {second:.2f} | {code} | {reported} |")
        print(f"<!-- {summary} -->")


if __name__ == "__main__":
    main()
