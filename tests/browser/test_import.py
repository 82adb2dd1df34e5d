"""Importing in Chromium: an author chooses two files, reads how each maps onto the template,
confirms, and opens the drafts they became, with the originals kept beside them."""

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

CONFLUENCE = b"""<html><body><h1>Incident report: Sign-in failures</h1>
<h2>Executive summary</h2><p>Sign-in failed for every user for 20 minutes.</p>
<h2>Timeline</h2><table><tr><th>Time</th><th>Event</th></tr>
<tr><td>2025-05-02 10:02</td><td>Errors start</td></tr>
<tr><td>2025-05-02 10:22</td><td>Certificate replaced</td></tr></table>
<h2>Follow-ups</h2><ul><li>Alert before identity certificates expire</li></ul></body></html>"""

MARKDOWN = b"""---
title: Stale search results after an index stall
date: 2025-02-03
---

## TL;DR
Search showed day-old prices for three hours.

## What went wrong?
Nobody was paged when the indexer fell behind.

## Root causes
- The indexer's lag had no alert.

## Action items
- [x] Alert when the indexer falls behind
- [ ] Rehearse an index rebuild
"""


@pytest.mark.parametrize("width", [390, 1440])
def test_an_author_imports_two_files_through_the_page(browser, live_url, live_user, width):
    live_user("writer@x.example", role="author", teams=["payments"])
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    sign_in(page, live_url, "writer@x.example")
    page.goto(f"{live_url}/")
    page.get_by_role("link", name="Import", exact=True).click()
    page.set_input_files(
        "#f-files",
        files=[
            {"name": "sign-in.html", "mimeType": "text/html", "buffer": CONFLUENCE},
            {"name": "search.md", "mimeType": "text/markdown", "buffer": MARKDOWN},
        ],
    )
    page.get_by_role("button", name="Check the files").click()
    page.get_by_text("2 of 2 files can be imported").wait_for()
    mapping = page.get_by_role("table", name="How search.md maps onto the template")
    assert mapping.get_by_role("row", name="What went wrong? What went poorly").count() == 1
    assert page.get_by_text("Sign-in failures", exact=True).is_visible()
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"the check is {scroll} px wide at {width} px"

    page.get_by_role("button", name="Import 2 as drafts").click()
    page.get_by_role("heading", name="2 postmortems imported").wait_for()
    page.get_by_role("link", name="Stale search results after an index stall").click()
    page.wait_for_url("**/edit")
    assert page.locator("#f-went_poorly").input_value() == (
        "Nobody was paged when the indexer fell behind."
    )
    assert page.locator(".attachment-list").get_by_role("link", name="search.md").count() == 1
    context.close()
