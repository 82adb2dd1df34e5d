"""Precision and recall of the blameless-language checker on hand-written sentences.

    .venv/bin/python bench/blameless_bench.py [sentences.toml ...] [--no-given-names] [-v]

Default: bench/blameless_sentences.toml (written before the rules) and
bench/blameless_heldout.toml (written after them, never used to change them). A blameful
sentence counts as found when the checker gives it at least one hint; a blameless one as a
false alarm when it gives any. `--no-given-names` empties the list of common given names, to
show how much rests on it (people then count as named only when they are users, or by the
verbs only people do). `-v` prints the sentences it gets wrong.
"""

import argparse
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import blameless  # noqa: E402

DEFAULT = [ROOT / "bench" / "blameless_sentences.toml", ROOT / "bench" / "blameless_heldout.toml"]


def evaluate(path, verbose=False):
    """(precision, recall, counts) of the checker on one file of sentences."""
    data = tomllib.loads(Path(path).read_text())
    names = data.get("names", [])
    flagged = {s: bool(blameless.check_text(s, names=names)) for s in data["blameful"]}
    alarms = {s: bool(blameless.check_text(s, names=names)) for s in data["blameless"]}
    tp = sum(flagged.values())
    fn = len(flagged) - tp
    fp = sum(alarms.values())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    if verbose:
        for sentence, hit in flagged.items():
            if not hit:
                print(f"  missed: {sentence}")
        for sentence, hit in alarms.items():
            if hit:
                rules = [(h.rule, h.text) for h in blameless.check_text(sentence, names=names)]
                print(f"  false alarm: {sentence} {rules}")
    return (
        precision,
        recall,
        {"blameful": len(flagged), "blameless": len(alarms), "fp": fp, "fn": fn},
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--no-given-names", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.no_given_names:
        blameless._data()["people"]["given_names"] = []
    failed = False
    for path in args.files:
        started = time.perf_counter()
        precision, recall, counts = evaluate(path, args.verbose)
        ms = (time.perf_counter() - started) * 1000
        print(
            f"{path.name}: {counts['blameful']} blameful + {counts['blameless']} blameless, "
            f"precision {precision:.3f}, recall {recall:.3f} "
            f"({counts['fp']} false alarms, {counts['fn']} missed; {ms:.0f} ms)"
        )
        failed |= precision < 0.9 or recall < 0.9
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
