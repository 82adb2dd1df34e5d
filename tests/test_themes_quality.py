"""The quality gate: Hindsight's themes must beat TF-IDF + KMeans on every labelled set.

Runs bench/themes_quality.py on the shared labelled public postmortems
(../shared/data/public-postmortems beside the clone; CI has a copy there).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "public-postmortems"


def test_themes_beat_the_baseline_on_every_labelled_set():
    if not DATA.is_dir():
        message = f"the labelled public postmortems are not at {DATA}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + ": CI must provide them beside the clone")
        pytest.skip(message + " (only CI is required to have them)")
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "themes_quality.py"), "--json", "--data", str(DATA)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert {r["set"] for r in report["results"]} == {"danluu", "icco"}
    for r in report["results"]:
        ours = r["hindsight"]
        for variant, base in r["baselines"].items():
            assert ours["ari"] >= base["ari"] + report["margin"], (r["set"], variant, ours, base)
            assert ours["ami"] >= base["ami"] + report["margin"], (r["set"], variant, ours, base)
    assert report["ok"] and result.returncode == 0
