"""The themes of the public postmortems, with and without discounting names and boilerplate.

Every record of the shared public sets (danluu, icco, k8s_af; one per URL) is read as a
rebuild reads a postmortem: its summary is the contributing factor, its title and longer
narrative the context. Prints the biggest themes' key terms, so one can see whether they
name failure modes or vendors and the write-ups' template phrases, and the terms the
clustering learned to discount.

    .venv/bin/python bench/themes_public.py [--data DIR] [--top 10]
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "public-postmortems"
FILES = ("danluu.jsonl", "icco.jsonl", "k8s_af.jsonl")


def records(data):
    """Every record with a summary, once per URL."""
    seen, out = set(), []
    for name in FILES:
        for line in (data / name).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            key = record.get("url") or record["id"]
            if key in seen or not (record.get("summary") or "").strip():
                continue
            seen.add(key)
            out.append(record)
    return out


def main(argv=None):
    from kb.insights import clustering

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    found = records(args.data)
    texts = [" ".join(r["summary"].split()) for r in found]
    contexts = [
        f"{r.get('title') or r.get('company') or ''}. {r.get('description') or r['summary']}"
        for r in found
    ]
    print(f"{len(found)} public postmortems\n")
    for discount in (False, True):
        result = clustering.cluster(texts, contexts, discount=discount)
        sizes = Counter(label for label in result.labels if label >= 0)
        print(f"## {'with' if discount else 'without'} discounting: {result.method}\n")
        print("| theme | factors | key terms |\n| --- | --- | --- |")
        for label, size in sizes.most_common(args.top):
            print(f"| {label + 1} | {size} | {', '.join(result.terms[label])} |")
        if discount:
            shown = ", ".join(list(result.discounts)[:40])
            print(f"\n{len(result.discounts)} terms discounted, for example: {shown}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
