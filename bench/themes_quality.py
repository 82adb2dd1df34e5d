"""How good are the themes? Compare them with labelled public postmortems and two baselines.

For each labelled set in the shared data (danluu: `category` except 'uncategorized'; icco:
`category`, set where exactly one keyword rule matched), every labelled record becomes a
published postmortem in the document format: its short summary is the one contributing
factor (never with a category: the label must not leak in), its longer narrative, where
the source has one, is the postmortem's summary. They are imported into a scratch SQLite
database and `rebuild()` computes the themes exactly as `kb themes rebuild` does, once per
random state (SEEDS); the stored membership rows are scored against the labels with the
adjusted Rand index (ARI) and adjusted mutual information (AMI).

The baselines get k = the true number of labels (which Hindsight does not get to know) and
the same five random states: TF-IDF + KMeans, and TF-IDF + LSA + Normalizer + KMeans as in
scikit-learn's text-clustering example, each on the factor text and, so that context is not
an unfair advantage, on the factor text plus the postmortem's title and summary. The
strongest baseline of each figure (mean, worst) is the one to beat.

`--large` gates the path used beyond clustering.NMF_UP_TO factors: each set is replicated
past that size with paraphrase noise (every copy drops and swaps words at random, so no two
copies are the same text) and clustered by `clustering.cluster`, which then takes that path;
the baselines run on the same replicated texts.

    .venv/bin/python bench/themes_quality.py [--data DIR] [--json] [--margin 0.01] [--large]
                                             [--sets danluu icco] [--seeds 5]

Exit status 1 when Hindsight does not beat the strongest baseline by the margin in ARI and
AMI, on the mean and on the worst random state, on every set.
"""

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import scratch  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "public-postmortems"
SETS = {"danluu": "danluu.jsonl", "icco": "icco.jsonl"}
SEEDS = range(5)
DROP = 0.15  # paraphrase noise: the share of words a copy drops
SWAP = 0.10  # and the share of neighbouring words it swaps


def labelled_records(path):
    """(record, label) for every record with a usable label."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        label = record.get("category")
        if label and label != "uncategorized" and (record.get("summary") or "").strip():
            out.append((record, label))
    return out


def to_document(record, number):
    """A published postmortem document for one record; the label is never part of it."""
    summary = " ".join(record["summary"].split())
    narrative = (record.get("description") or "").strip() or summary
    title = " ".join((record.get("title") or record.get("company") or "Untitled").split())
    if len(title) < 3:
        title = f"{title} incident"
    return {
        "ref": f"PUB-2000-{number:04d}",
        "title": title[:200],
        "status": "published",
        "severity": "SEV3",
        "started_at": "2020-01-01T00:00:00Z",
        "published_at": "2020-01-02T00:00:00Z",
        "summary": narrative,
        "contributing_factors": [{"text": summary[:2000]}],
    }


def hindsight_labels(documents):
    """Import into a scratch database and rebuild themes once per random state.

    Returns ([a theme id per document, per seed], the last rebuild's report, seconds per
    rebuild)."""
    from sqlmodel import Session, select

    from kb.insights import themes
    from kb.models import Postmortem, ThemeFactor

    runs, seconds = [], []
    with (
        scratch.database(documents, "quality") as (_folder, _url, engine),
        Session(engine) as session,
    ):
        for seed in SEEDS:
            started = time.perf_counter()
            report = themes.rebuild(session, force=True, random_state=seed)
            session.commit()
            seconds.append(time.perf_counter() - started)
            rows = session.exec(
                select(Postmortem.ref, ThemeFactor.theme_id).join(
                    ThemeFactor, ThemeFactor.postmortem_id == Postmortem.id
                )
            ).all()
            theme_of = dict(rows)
            # A record whose factor has no usable word is in no theme: its own group.
            runs.append([theme_of.get(d["ref"], -1 - i) for i, d in enumerate(documents)])
    return runs, report, seconds


def kmeans_baseline(texts, k):
    """TF-IDF + KMeans(k), one labelling per random state."""
    from sklearn.cluster import KMeans

    matrix = _baseline_tfidf(texts)
    return [KMeans(k, random_state=seed, n_init=10).fit_predict(matrix) for seed in SEEDS]


def lsa_baseline(texts, k):
    """TF-IDF + LSA + Normalizer + KMeans(k), as scikit-learn's text-clustering example."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    matrix = _baseline_tfidf(texts)
    dimensions = max(2, min(100, matrix.shape[0] - 1, matrix.shape[1] - 1))
    out = []
    for seed in SEEDS:
        lsa = make_pipeline(TruncatedSVD(dimensions, random_state=seed), Normalizer(copy=False))
        reduced = lsa.fit_transform(matrix)
        out.append(KMeans(k, random_state=seed, n_init=10).fit_predict(reduced))
    return out


def _baseline_tfidf(texts):
    from sklearn.feature_extraction.text import TfidfVectorizer

    # The example's settings (English stop words, max_df 0.5); min_df 2 rather than its 5,
    # which would leave these small sets almost no words.
    try:
        return TfidfVectorizer(max_df=0.5, min_df=2, stop_words="english").fit_transform(texts)
    except ValueError:  # too few documents for those limits
        return TfidfVectorizer(stop_words="english").fit_transform(texts)


BASELINES = {"TF-IDF + KMeans": kmeans_baseline, "TF-IDF + LSA + Normalizer + KMeans": lsa_baseline}


def score(truth, predicted):
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    return adjusted_rand_score(truth, predicted), adjusted_mutual_info_score(truth, predicted)


def summary(truth, labellings):
    """Mean and worst ARI and AMI over the random states."""
    scores = [score(truth, labels) for labels in labellings]
    ari = [s[0] for s in scores]
    ami = [s[1] for s in scores]
    return {
        "ari": statistics.fmean(ari),
        "ami": statistics.fmean(ami),
        "ari_worst": min(ari),
        "ami_worst": min(ami),
    }


def paraphrase(text, rng):
    """`text` with a share of its words dropped and of neighbouring words swapped."""
    words = [w for w in text.split() if rng.random() >= DROP] or text.split()[:1]
    for i in range(len(words) - 1):
        if rng.random() < SWAP:
            words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def replicated(documents, truth, minimum, seed=0):
    """Copies of every document with paraphrase noise, until there are more than `minimum`."""
    rng = random.Random(seed)
    copies = math.floor(minimum / len(documents)) + 1
    texts, contexts, labels = [], [], []
    for _copy in range(copies):
        for doc, label in zip(documents, truth, strict=True):
            texts.append(paraphrase(doc["contributing_factors"][0]["text"], rng))
            contexts.append(f"{doc['title']}. {paraphrase(doc['summary'], rng)}")
            labels.append(label)
    return texts, contexts, labels


def evaluate(name, path, large=False):
    """The scores of one labelled set (small: through rebuild; large: replicated)."""
    from kb.insights import clustering

    records = labelled_records(path)
    truth = [label for _r, label in records]
    documents = [to_document(r, i + 1) for i, (r, _l) in enumerate(records)]
    k = len(set(truth))
    if large:
        texts, contexts, truth = replicated(documents, truth, clustering.NMF_UP_TO)
        started = time.perf_counter()
        results = [clustering.cluster(texts, contexts, random_state=s) for s in SEEDS]
        seconds = [(time.perf_counter() - started) / len(SEEDS)]
        ours = [r.labels for r in results]
        method, themes = results[-1].method, results[-1].k
    else:
        ours, report, seconds = hindsight_labels(documents)
        method, themes = report.method, report.themes
        texts = [d["contributing_factors"][0]["text"] for d in documents]
        contexts = [f"{d['title']}. {d['summary']}" for d in documents]
    result = {
        "set": name + (" (replicated)" if large else ""),
        "records": len(truth),
        "labels": k,
        "hindsight": summary(truth, ours) | {"themes": themes, "seconds": max(seconds)},
        "method": method,
        "baselines": {},
    }
    full = [f"{c} {t}" for c, t in zip(contexts, texts, strict=True)]
    for base, run in BASELINES.items():
        for variant, inputs in (("factor text", texts), ("factor + context", full)):
            result["baselines"][f"{base}, {variant}"] = summary(truth, run(inputs, k))
    return result


def strongest(result):
    """The best baseline figure of each kind (mean and worst ARI and AMI)."""
    bases = result["baselines"].values()
    return {key: max(b[key] for b in bases) for key in ("ari", "ami", "ari_worst", "ami_worst")}


def beats(result, margin):
    """Whether Hindsight beats the strongest baseline by `margin` on every figure."""
    ours, best = result["hindsight"], strongest(result)
    return all(ours[key] >= best[key] + margin for key in best)


def main(argv=None):
    global SEEDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--margin", type=float, default=0.01)
    parser.add_argument(
        "--large", action="store_true", help="gate the path beyond NMF_UP_TO factors"
    )
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--seeds", type=int, default=5, help="random states to run")
    args = parser.parse_args(argv)
    SEEDS = range(args.seeds)
    if not args.data.is_dir():
        print(f"no labelled data at {args.data}", file=sys.stderr)
        return 2
    results = [evaluate(name, args.data / SETS[name], args.large) for name in args.sets]
    ok = all(beats(r, args.margin) for r in results)
    if args.json:
        print(json.dumps({"ok": ok, "margin": args.margin, "results": results}, indent=2))
        return 0 if ok else 1
    print(
        f"{'set':<20} {'n':>5} {'k':>3}  {'who':<52} {'ARI mean/worst':>15} {'AMI mean/worst':>15}"
    )
    for r in results:
        h = r["hindsight"]
        rows = [(f"Hindsight ({h['themes']} themes, {h['seconds']:.1f} s)", h)]
        rows += list(r["baselines"].items())
        lead = f"{r['set']:<20} {r['records']:>5} {r['labels']:>3}"
        for who, s in rows:
            print(
                f"{lead}  {who:<52} {s['ari']:7.3f}/{s['ari_worst']:<7.3f} "
                f"{s['ami']:7.3f}/{s['ami_worst']:<7.3f}"
            )
            lead = " " * 30
        print(f"{lead}  {r['method']}")
        print(f"{lead}  beats the strongest baseline by {args.margin}: {beats(r, args.margin)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
