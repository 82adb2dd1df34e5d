"""Markdown and HTML postmortems in: sections by heading or label, timelines, factors and
action items from lists and tables, nothing lost, and a lossless Markdown round trip."""

import json
import re

import pytest

from kb import seed, transfer
from kb.document import format_datetime, to_document, validate
from kb.importers.html import read_html
from kb.importers.markdown import read_markdown
from kb.models import Postmortem

SRE_STYLE = """\
# Postmortem: Checkout latency after the cache eviction change

**Date:** 2025-03-14
**Authors:** Jamie Rivera

## 1. Summary 📝
Checkout requests slowed to 9 s for 40 minutes after a cache setting was changed.

## Impact:
About 12% of checkouts failed.

## Root Causes
- The eviction policy was changed fleet-wide at once.
- No alert watched the cache hit rate.

## Timeline
- 23:50 UTC - Change rolled out to every region
- **23:58 UTC**: Latency alert fires
- 00:20 UTC - Change reverted

## Action Items
| Action | Owner | Status | Ticket |
| --- | --- | --- | --- |
| Roll cache changes out region by region | platform | done | https://tracker.example/OPS-1 |
| Alert on the cache hit rate | sre | open | |

## Author's aside
We bought cake afterwards.
"""


def test_headings_of_any_style_map_to_the_template():
    found = read_markdown(SRE_STYLE, name="cache.md")
    doc = validate(found.document)
    assert doc["title"] == "Checkout latency after the cache eviction change"
    assert doc["status"] == "draft"
    assert doc["summary"].startswith("Checkout requests slowed")
    assert doc["impact"] == "About 12% of checkouts failed."
    assert [f["text"] for f in doc["contributing_factors"]] == [
        "The eviction policy was changed fleet-wide at once.",
        "No alert watched the cache hit rate.",
    ]
    assert dict(found.mapping)["1. Summary 📝"] == "summary"
    assert dict(found.mapping)["Root Causes"] == "contributing_factors"


def test_timeline_dates_carry_forward_and_cross_midnight():
    doc = validate(read_markdown(SRE_STYLE).document)
    assert [(e["at"], e["text"]) for e in doc["timeline"]] == [
        ("2025-03-14T23:50:00Z", "Change rolled out to every region"),
        ("2025-03-14T23:58:00Z", "Latency alert fires"),
        ("2025-03-15T00:20:00Z", "Change reverted"),
    ]
    assert format_datetime(doc["started_at"]) == "2025-03-14T23:50:00Z"


def test_action_item_tables_read_owner_status_and_link():
    doc = validate(read_markdown(SRE_STYLE).document)
    first, second = doc["action_items"]
    assert first["title"] == "Roll cache changes out region by region"
    assert (first["owner"], first["status"], first["url"]) == (
        "platform",
        "done",
        "https://tracker.example/OPS-1",
    )
    assert (second["title"], second["status"], second["url"]) == (
        "Alert on the cache hit rate",
        "open",
        None,
    )


def test_nothing_is_lost_text_under_no_section_goes_to_the_notes():
    found = read_markdown(SRE_STYLE)
    doc = validate(found.document)
    assert "We bought cake afterwards." in doc["notes"]
    assert "Author's aside" in doc["notes"]
    assert doc["authors"] == ["Jamie Rivera"]  # a name is kept as written (linked at save)


def test_plain_and_bold_labels_checklists_and_setext_headings():
    text = """\
Disk full on the build cache
============================

SUMMARY
The build cache filled its disk and every build failed for two hours.

**What went wrong:** nobody watched the disk.

Corrective and preventive measures:
- [x] Add a disk usage alert
- [ ] Expire cache entries after 30 days
"""
    doc = validate(read_markdown(text).document)
    assert doc["title"] == "Disk full on the build cache"
    assert doc["summary"] == "The build cache filled its disk and every build failed for two hours."
    assert doc["went_poorly"] == "nobody watched the disk."
    assert [(a["title"], a["status"]) for a in doc["action_items"]] == [
        ("Add a disk usage alert", "done"),
        ("Expire cache entries after 30 days", "open"),
    ]


def test_a_combined_root_cause_and_resolution_heading_fills_both():
    text = """\
# DNS outage

## Root cause and resolution

A resolver was given an empty zone file.

We restored the previous zone and restarted the resolvers.
"""
    doc = validate(read_markdown(text).document)
    assert doc["response"].startswith("A resolver was given an empty zone file.")
    assert [f["text"] for f in doc["contributing_factors"]] == [
        "A resolver was given an empty zone file."
    ]


def test_front_matter_sets_fields_and_a_rule_at_the_top_is_not_front_matter():
    text = """\
---
title: Queue backlog in the billing pipeline
date: 2024-11-02
severity: sev-2
tags: [queues, billing]
status: published
---

## Summary
A consumer stopped acknowledging messages.
"""
    doc = read_markdown(text).document
    assert doc["title"] == "Queue backlog in the billing pipeline"
    assert (doc["severity"], doc["tags"], doc["status"]) == (
        "SEV2",
        ["queues", "billing"],
        "published",
    )
    ruled = "---\n\n# Payment retries doubled\n\n## Summary\nRetries were not idempotent.\n\n---\n"
    doc = read_markdown(ruled).document
    assert doc["title"] == "Payment retries doubled"
    assert doc["summary"] == "Retries were not idempotent."


def test_html_exports_are_read_as_markdown():
    html = """<html><head><style>p{}</style></head><body>
    <h1>Incident report: Login failures</h1>
    <h2>Summary</h2><p>Sign-in failed for <b>all</b> users.</p>
    <h2>Timeline</h2><table><tr><th>Time</th><th>Event</th></tr>
    <tr><td>2024-05-02 10:02</td><td>Errors start</td></tr></table>
    <h2>Next steps</h2><ul><li>Test the identity provider's certificate rotation</li></ul>
    </body></html>"""
    doc = validate(read_html(html).document)
    assert doc["title"] == "Login failures"
    assert doc["summary"] == "Sign-in failed for **all** users."
    assert doc["timeline"] == [
        {"at": "2024-05-02T10:02:00Z", "text": "Errors start", "source": None}
    ]
    assert doc["action_items"][0]["title"].startswith("Test the identity provider")


def test_kb_import_reads_a_folder_of_markdown_as_drafts(runner, session, tmp_path):
    (tmp_path / "a.md").write_text(SRE_STYLE)
    (tmp_path / "b.html").write_text("<h1>Cron ran twice</h1><h2>Summary</h2><p>Twice.</p>")
    result = runner.invoke(args=["import", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "2 created" in result.output
    rows = session.exec(Postmortem.__table__.select()).all()
    assert sorted(r.title for r in rows) == [
        "Checkout latency after the cache eviction change",
        "Cron ran twice",
    ]
    assert {r.status for r in rows} == {"draft"}


def test_markdown_export_reads_back_to_the_same_document(app, runner, session, tmp_path):
    report = seed.load_postmortems(session)
    session.commit()
    assert report.ok and report.created >= 30
    assert runner.invoke(args=["export", "--format", "markdown", str(tmp_path)]).exit_code == 0
    for pm in session.exec(Postmortem.__table__.select()).all():
        original = validate(to_document(session.get(Postmortem, pm.id)))
        text = (tmp_path / f"{pm.ref}.md").read_text(encoding="utf-8")
        found = read_markdown(text, name=f"{pm.ref}.md")
        assert found.problems == [], (pm.ref, found.problems)
        assert validate(found.document) == original, pm.ref


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "# \n", "| a |\n| - |\n", "- [ ]\n", "+++\nbad = \n+++\n", "---\n- a\n---\n"],
)
def test_odd_files_give_a_draft_or_a_clear_refusal_never_an_exception(text):
    found = read_markdown(text, name="odd-file.md")
    assert found.document["title"]
    json.dumps(found.document)  # plain data


def test_a_file_that_is_not_utf8_or_too_large_is_refused_by_name(tmp_path):
    (tmp_path / "latin.md").write_bytes("# Caf\xe9 outage\n".encode("latin-1"))
    (tmp_path / "big.md").write_text("# Big\n\n" + "word " * 300_000)
    records = {r.source.rsplit("/", 1)[1]: r for r in transfer.read_records(tmp_path)}
    assert records["latin.md"].error == "not UTF-8 text"
    assert re.search("larger than 1 MiB", records["big.md"].error)


def test_dry_run_shows_the_mapping_and_saves_nothing(runner, session, tmp_path):
    (tmp_path / "cache.md").write_text(SRE_STYLE)
    (tmp_path / "broken.json").write_text('{"title": "x"}')
    result = runner.invoke(args=["import", "--dry-run", str(tmp_path)])
    assert result.exit_code == 1
    assert "'Root Causes' -> contributing_factors" in result.output
    assert "'Next steps'" not in result.output  # only what the file has
    assert "refused: title: must be" in result.output
    assert "Dry run: 1 would be imported, 1 refused." in result.output
    assert session.exec(Postmortem.__table__.select()).all() == []
