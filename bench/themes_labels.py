"""Read the theme labels of real postmortems: do they name failure modes?

Every record of the public sets (icco, whose narratives are the summaries, and the k8s
failure stories) becomes a published postmortem with its summary as the one contributing
factor, as bench/themes_quality.py does; themes are rebuilt in a scratch database and each
theme's label, size and key terms are printed, biggest first, with the terms the rebuild
found generic (what every write-up says, vendors' and products' names).

Then a measure of the labels as a whole (--json prints it alone): the share of themes whose
label says what went wrong (a predicate or state: an "-ed" participle such as "expired" or
"pushed", a negation such as "not", "no", "without", or a word after a copula such as "was
full"), against a bare noun phrase naming a topic ("DNS record"); the share of labels of two
to six words; the share that fell back on key terms (a comma); the share holding a word the
rebuild discounted as a name or what every write-up says (ThemeRun.generic); and the number
of distinct labels. The detector here is deliberately cruder than the labeller's own
(kb/insights/themes/states.py learns states from the corpus), so a label does not pass
merely by being judged with the rule that chose it; read the printed labels as well.

    .venv/bin/python bench/themes_labels.py [--data DIR] [--sets icco,k8s_af] [--json]
"""

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import scratch  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "public-postmortems"


def records(path):
    """Every record with a summary."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            if (record.get("summary") or "").strip():
                out.append(record)
    return out


_NEGATIONS = {"not", "no", "never", "without", "cannot"}
_COPULAS = {"is", "are", "was", "were", "be", "been", "became", "become"}


def says_what_went_wrong(label):
    """Whether a label holds a predicate or state word, by a crude rule (see the docstring)."""
    words = re.findall(r"[a-z][a-z'-]*", label.lower())
    for i, word in enumerate(words):
        head = word.split("-")[0]
        if word in _NEGATIONS or word.endswith("n't"):
            return True
        if len(head) > 4 and head.endswith("ed") and not head.endswith("eed"):
            return True
        if i and words[i - 1] in _COPULAS:
            return True
    return False


def measure(labels, generic):
    """Shares of labels that say what went wrong, are 2 to 6 words, fell back, hold a
    discounted word; and how many are distinct."""
    from kb.insights import features

    n = len(labels) or 1
    generic = set(generic)
    return {
        "themes": len(labels),
        "says_what_went_wrong": round(sum(map(says_what_went_wrong, labels)) / n, 3),
        "two_to_six_words": round(sum(2 <= len(x.split()) <= 6 for x in labels) / n, 3),
        "fell_back_on_terms": round(sum("," in x for x in labels) / n, 3),
        "holds_discounted_word": round(
            sum(bool(set(features.tokens(x)) & generic) for x in labels) / n, 3
        ),
        "distinct": len(set(labels)),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", default="icco,k8s_af")
    parser.add_argument("--quotes", type=int, default=0, help="central factors to print")
    parser.add_argument("--json", action="store_true", help="print the measure alone, as JSON")
    args = parser.parse_args(argv)

    from sqlmodel import Session, select
    from themes_quality import to_document

    from kb.insights import themes
    from kb.models import Factor, Theme, ThemeFactor, ThemeRun

    documents = []
    for name in args.sets.split(","):
        for record in records(args.data / f"{name}.jsonl"):
            documents.append(to_document(record, len(documents) + 1))
    with (
        scratch.database(documents, "labels") as (_folder, _url, engine),
        Session(engine) as session,
    ):
        report = themes.rebuild(session)
        session.commit()
        run = session.exec(select(ThemeRun)).first()
        stored = session.exec(select(Theme).order_by(Theme.size.desc(), Theme.id)).all()
        figures = measure([t.label for t in stored], run.generic)
        if args.json:
            print(json.dumps({"sets": args.sets, "method": report.method, **figures}))
            return
        print(f"{len(documents)} postmortems, {report.themes} themes ({report.method})")
        print("generic:", ", ".join(run.generic[:60]))
        for theme in stored:
            print(f"{theme.size:4}  {theme.label}  [{', '.join(theme.terms)}]")
            for row in session.exec(
                select(Factor.text)
                .join(ThemeFactor, ThemeFactor.factor_id == Factor.id)
                .where(ThemeFactor.theme_id == theme.id)
                .order_by(ThemeFactor.score.desc())
                .limit(args.quotes)
            ):
                print("        -", row[:140])
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
