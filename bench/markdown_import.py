"""Importing Markdown postmortems: how well, and how fast.

quality: imports every file of ../shared/data/markdown-postmortems (real postmortems with hand
annotations in gold.json; read from there, never copied) and reports, per file and overall,
whether each lands with its title, its sections, its timeline entries (count and first),
factors and action items (count and first), and whether any sentence of the original is
missing from the imported document.

speed: `kb import` of a folder of 1,000 synthetic Markdown postmortems of about 2,000 words
each, written in a free-form style (bold labels, bullet timelines, tables), on SQLite.

Run: .venv/bin/python bench/markdown_import.py quality [--data DIR]
     .venv/bin/python bench/markdown_import.py speed [--files 1000] [--words 2000]
Writes nothing into the project; prints Markdown tables for docs/performance.md.
"""

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
DATA = ROOT.parent / "shared" / "data" / "markdown-postmortems"
SECTIONS = ("summary", "impact", "detection", "response", "went_well", "went_poorly",
            "got_lucky", "lessons")  # fmt: skip


def words(text):
    return re.findall(r"[a-z0-9]+", (text or "").lower())


def same_start(ours, gold, n=6):
    """Whether two texts start with the same n words (markup and punctuation ignored)."""
    a, b = words(ours), words(gold)
    return bool(a) and a[: min(n, len(b))] == b[: min(n, len(b))]


def close(count, gold):
    return gold is not None and abs(count - gold) <= max(1, round(gold * 0.2))


def all_text(doc):
    parts = [doc.get("title", "")] + [doc.get(k) or "" for k in (*SECTIONS, "surprises", "notes")]
    parts += [e["text"] for e in doc.get("timeline", [])]
    parts += [f["text"] for f in doc.get("contributing_factors", [])]
    parts += [a["title"] for a in doc.get("action_items", [])]
    parts += [f"{link['title']} {link['url']}" for link in doc.get("links", [])]
    return " ".join(" ".join(words(p)) for p in parts)


def missing_sentences(original, doc):
    """Sentences of the original (three words or more) not found in the imported document.

    Read as the importer's units: headings and labels are structure (they become fields),
    a leading time becomes the entry's time and a table's time cell too; every other sentence
    must be somewhere in the document, word for word."""
    from kb.importers import blocks, headings
    from kb.importers.times import leading_time

    imported = all_text(doc)
    missing = []
    for unit in blocks.parse(original).units:
        if unit.kind == "heading" or unit.header:
            continue
        texts = unit.cells if unit.kind == "row" else [unit.text]
        for text in texts:
            timed = leading_time(text)
            text = timed[4] if timed else text
            if unit.bold and text.startswith(unit.bold.strip()):
                text = text[len(unit.bold.strip()) :]
            head, colon, rest = text.partition(":")
            if colon and headings.exact(head):
                text = rest  # "Summary: text": the label names the field
            if len(text.split()) <= 8 and headings.fields_of(text):
                continue  # a label line
            for sentence in re.split(r"(?<=[.!?])\s+", text):
                found = " ".join(words(sentence))
                if len(found.split()) >= 3 and found not in imported:
                    missing.append(sentence.strip()[:80])
    return missing


def quality(data):
    from kb.document import DocumentError, validate
    from kb.importers.markdown import read_markdown

    gold = {g["file"]: g for g in json.loads((data / "gold.json").read_text())}
    rows, totals = [], {}
    for path in sorted(data.glob("*.md")):
        g = gold.get(path.name)
        if g is None:
            continue
        text = path.read_bytes().decode("utf-8")
        doc = read_markdown(text, name=path.name).document
        try:
            validate(doc)
            valid = True
        except DocumentError:
            valid = False
        expected = {k for k, v in (g["sections"] or {}).items() if v}
        got = {k for k in SECTIONS if doc.get(k)}
        timeline, factors, actions = (
            doc["timeline"],
            doc["contributing_factors"],
            doc["action_items"],
        )
        checks = {
            "valid": valid,
            "title": words(doc["title"]) == words(g["title"]),
            "sections": expected <= got,
            "timeline": close(len(timeline), g["timeline_entries"]),
            "first entry": bool(timeline)
            and same_start(timeline[0]["text"], g["first_timeline_text"])
            if g["first_timeline_text"]
            else not timeline,
            "factors": close(len(factors), g["contributing_factors"]),
            "actions": close(len(actions), g["action_items"]),
            "first action": bool(actions)
            and same_start(actions[0]["title"], g["first_action_item"])
            if g["first_action_item"]
            else not actions,
            "nothing lost": not missing_sentences(text, doc),
        }
        for key, ok in checks.items():
            totals[key] = totals.get(key, 0) + ok
        rows.append(
            (
                path.name,
                checks,
                len(timeline),
                g["timeline_entries"],
                len(factors),
                g["contributing_factors"],
                len(actions),
                g["action_items"],
                sorted(got),
                sorted(expected),
            )
        )
    keys = list(totals)
    print("| file | " + " | ".join(keys) + " | timeline | factors | actions |")
    print("|" + " --- |" * (len(keys) + 4))
    for name, checks, t, gt, f, gf, a, ga, _got, _exp in rows:
        marks = " | ".join("yes" if checks[k] else "**no**" for k in keys)
        print(f"| {name[:28]} | {marks} | {t}/{gt} | {f}/{gf} | {a}/{ga} |")
    print("| **all** | " + " | ".join(f"{totals[k]}/{len(rows)}" for k in keys) + " | | | |")
    missing = 0
    for path in sorted(data.glob("*.md")):
        if path.name in gold:
            lost = missing_sentences(
                path.read_text(encoding="utf-8"),
                read_markdown(path.read_text(encoding="utf-8"), name=path.name).document,
            )
            missing += len(lost)
            for sentence in lost[:3]:
                print(f"  lost from {path.name}: {sentence!r}", file=sys.stderr)
    print(f"\nsentences missing from imported documents: {missing}")


def synthetic(n, rng, words_wanted):
    from corpus import document, paragraph

    doc = document(n, rng)
    lines = [f"# Postmortem: {doc['title']}", "", f"**Date:** {doc['started_at'][:10]}", ""]
    body = [("Issue Summary", doc["summary"]), ("Impact", doc["impact"]),
            ("How it was detected", doc["detection"]), ("Resolution and recovery", doc["response"]),
            ("What went well", doc["went_well"]), ("What went wrong", doc["went_poorly"]),
            ("Lessons learned", doc["lessons"])]  # fmt: skip
    for heading, text in body:
        lines += [f"## {heading}", "", text, ""]
    lines += ["## Timeline", ""]
    lines += [f"- **{e['at'][11:16]} UTC**: {e['text']}" for e in doc["timeline"]]
    lines += ["", "## Root causes", ""]
    lines += [f"- {f['text']}" for f in doc["contributing_factors"]]
    lines += ["", "## Action items", "", "| Action | Owner | Status |", "| --- | --- | --- |"]
    lines += [f"| {a['title']} | {a['owner'] or ''} | {a['status']} |" for a in doc["action_items"]]
    lines += ["", "## Appendix", ""]
    text = "\n".join(lines)
    while len(text.split()) < words_wanted:
        text += "\n\n" + paragraph(rng, 120)
    return text + "\n"


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def speed(files, words_wanted):
    kb = str(ROOT / ".venv" / "bin" / "kb")
    rng = random.Random(20261127)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "KB_INSTANCE_PATH": tmp, "KB_SEARCH_SYNC": "on"}
        env.pop("KB_DATABASE_URL", None)
        subprocess.run([kb, "db", "upgrade"], env=env, check=True, capture_output=True)
        folder = Path(tmp) / "markdown"
        folder.mkdir()
        sizes = []
        for n in range(1, files + 1):
            text = synthetic(n, rng, words_wanted)
            sizes.append(len(text.split()))
            (folder / f"{n:05d}.md").write_text(text, encoding="utf-8")
        started, cpu = time.perf_counter(), _children_cpu()
        result = subprocess.run(
            [kb, "import", str(folder)], env=env, capture_output=True, text=True
        )
        elapsed, cpu = time.perf_counter() - started, _children_cpu() - cpu
    print(
        f"| {files} files, {sum(sizes) // len(sizes)} words each on average | {elapsed:.1f} s "
        f"| {cpu:.1f} s of CPU | load {os.getloadavg()[0]:.1f} "
        f"| exit {result.returncode}: {result.stdout.strip()} |"
    )
    if result.returncode:
        print(result.stderr[-2000:], file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["quality", "speed"])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--words", type=int, default=2000)
    args = parser.parse_args()
    if args.what == "quality":
        quality(args.data)
    else:
        speed(args.files, args.words)


if __name__ == "__main__":
    main()
