"""Read the theme labels of real postmortems: do they name failure modes?

Every record of the public sets (icco, whose narratives are the summaries, and the k8s
failure stories) becomes a published postmortem with its summary as the one contributing
factor, as bench/themes_quality.py does; themes are rebuilt in a scratch database and each
theme's label, size and key terms are printed, biggest first, with the terms the rebuild
found generic (what every write-up says, vendors' and products' names).

    .venv/bin/python bench/themes_labels.py [--data DIR] [--sets icco,k8s_af]
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", default="icco,k8s_af")
    parser.add_argument("--quotes", type=int, default=0, help="central factors to print")
    args = parser.parse_args(argv)

    from sqlmodel import Session, select

    from kb import migrations
    from kb.db import make_engine
    from kb.document import validate
    from kb.insights import themes
    from kb.models import Factor, Theme, ThemeFactor, ThemeRun
    from kb.postmortems import save_document

    sys.path.insert(0, str(ROOT / "bench"))
    from themes_quality import to_document

    documents = []
    for name in args.sets.split(","):
        for record in records(args.data / f"{name}.jsonl"):
            documents.append(to_document(record, len(documents) + 1))
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/labels.db"
        migrations.upgrade("head", url=url)
        engine = make_engine(url)
        with Session(engine) as session:
            for doc in documents:
                save_document(session, validate(doc))
            session.commit()
            report = themes.rebuild(session)
            session.commit()
            print(f"{len(documents)} postmortems, {report.themes} themes ({report.method})")
            run = session.exec(select(ThemeRun)).first()
            print("generic:", ", ".join(run.generic[:60]))
            for theme in session.exec(select(Theme).order_by(Theme.size.desc(), Theme.id)):
                print(f"{theme.size:4}  {theme.label}  [{', '.join(theme.terms)}]")
                for row in session.exec(
                    select(Factor.text)
                    .join(ThemeFactor, ThemeFactor.factor_id == Factor.id)
                    .where(ThemeFactor.theme_id == theme.id)
                    .order_by(ThemeFactor.score.desc())
                    .limit(args.quotes)
                ):
                    print("        -", row[:140])
        engine.dispose()


if __name__ == "__main__":
    main()
