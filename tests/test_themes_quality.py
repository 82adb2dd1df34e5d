"""The quality gate: Hindsight's themes against the strongest of two baselines, five seeds.

Runs bench/themes_quality.py on the shared labelled public postmortems
(../shared/data/public-postmortems beside the clone, or KB_PUBLIC_POSTMORTEMS; CI has a copy
there). Every figure (ARI and AMI, mean and worst of five random states, on both sets) must
beat the strongest baseline's by the bench's margin, except the shortfalls listed below,
which are measured and reported in docs/themes.md; a listed shortfall that stops falling
short fails too, so the list is kept true. The path beyond 3,000 factors is gated by
`bench/themes_quality.py --large` (minutes on a loaded machine; figures in
docs/performance.md) and here by a smaller check on one replicated set and one seed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(
    os.environ.get("KB_PUBLIC_POSTMORTEMS")
    or ROOT.parent / "shared" / "data" / "public-postmortems"
)
BENCH = ROOT / "bench"

# (set, figure) where Hindsight does not yet beat the strongest baseline by the margin
# (icco's mean AMI, 0.114, beats the baseline's 0.107 by less than the margin).
KNOWN_SHORTFALLS = {("danluu", "ari"), ("icco", "ami")}


def _data():
    if not DATA.is_dir():
        message = f"the labelled public postmortems are not at {DATA}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + ": CI must provide them beside the clone")
        pytest.skip(message + " (only CI is required to have them)")
    return DATA


def _bench(*args):
    result = subprocess.run(
        [sys.executable, str(BENCH / "themes_quality.py"), "--json", "--data", str(_data())]
        + list(args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def _shortfalls(report):
    sys.path.insert(0, str(BENCH))
    from themes_quality import strongest

    found = set()
    for r in report["results"]:
        best = strongest(r)
        for figure, value in best.items():
            if r["hindsight"][figure] < value + report["margin"]:
                found.add((r["set"], figure))
    return found


def test_themes_beat_the_strongest_baseline_over_five_seeds():
    report = _bench()
    assert {r["set"] for r in report["results"]} == {"danluu", "icco"}
    for r in report["results"]:
        assert set(r["baselines"]) == {
            f"{base}, {variant}"
            for base in ("TF-IDF + KMeans", "TF-IDF + LSA + Normalizer + KMeans")
            for variant in ("factor text", "factor + context")
        }
        assert "names and boilerplate discounted" in r["method"]
    short = _shortfalls(report)
    assert short <= KNOWN_SHORTFALLS, (short - KNOWN_SHORTFALLS, report)
    assert short == KNOWN_SHORTFALLS, (
        f"no longer short, remove from the list: {KNOWN_SHORTFALLS - short}"
    )


def test_the_path_beyond_nmf_is_gated_on_a_replicated_set():
    """One set replicated past NMF_UP_TO with paraphrase noise, one random state: the
    LSA + mini-batch k-means path must beat both baselines' AMI on the same texts."""
    report = _bench("--large", "--sets", "icco", "--seeds", "1")
    (r,) = report["results"]
    assert r["records"] > 3000 and "LSA + MiniBatchKMeans" in r["method"]
    best = _strongest_of(r)
    assert r["hindsight"]["ami"] >= best["ami"] + report["margin"], r


def _strongest_of(r):
    sys.path.insert(0, str(BENCH))
    from themes_quality import strongest

    return strongest(r)
