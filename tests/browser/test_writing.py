"""Writing a postmortem in Chromium: from an empty form to published, conflicts, reloads."""

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def wait_saved(page):
    page.locator('#save-state[data-kind="ok"]').wait_for(timeout=10_000)


def start(page, live_url, title):
    page.goto(f"{live_url}/")
    page.get_by_role("link", name="New postmortem").click()
    page.get_by_label("What happened, in a few words?").fill(title)
    page.get_by_role("button", name="Start writing").click()
    page.wait_for_url("**/edit")
    return page.url.split("/postmortems/")[1].split("/")[0]


def test_write_review_and_publish_a_complete_postmortem(page, browser, live_url, live_user):
    live_user("writer@x.example", role="author", teams=["payments"])
    live_user("reviewer@x.example", role="author", teams=["platform"])
    sign_in(page, live_url, "writer@x.example")
    ref = start(page, live_url, "Checkout errors after a certificate expired")

    page.locator("#f-severity").select_option("SEV2")
    page.locator("#f-services").fill("checkout-api")
    page.locator("#f-teams").fill("payments")
    page.locator("#f-started_at").fill("2026-03-02T09:14")
    page.locator("#f-detected_at").fill("2026-03-02T09:31")
    page.locator("#f-resolved_at").fill("2026-03-02T11:40")
    page.locator("#f-summary").fill(
        "Checkout failed for 25 minutes after the intermediate certificate expired. "
        "The on-call engineer should have noticed the warning."
    )
    page.locator("#f-lessons").fill("- Track every certificate in one inventory.")

    timeline = [
        ("2026-03-02T09:14", "Error rate rises above 5%"),
        ("2026-03-02T09:31", "Alert pages the payments on-call"),
        ("2026-03-02T10:05", "New certificate deployed; errors stop"),
    ]
    for i, (at, text) in enumerate(timeline):
        if i:
            page.get_by_role("button", name="Add a timeline entry").click()
        rows = page.locator('[data-list="timeline"] [data-row]')
        rows.nth(i).locator("input[type=datetime-local]").fill(at)
        rows.nth(i).locator('input[name$="-text"]').fill(text)

    factors = [
        "The certificate was renewed by hand and nothing tracked its expiry.",
        "The expiry warning went to a mailbox nobody reads.",
    ]
    for i, text in enumerate(factors):
        if i:
            page.get_by_role("button", name="Add a contributing factor").click()
        page.locator('[data-list="factor"] textarea').nth(i).fill(text)

    actions = [
        ("Alert 21 days before any certificate expires", "sre"),
        ("Route expiry warnings to the on-call channel", "payments"),
    ]
    for i, (title, owner) in enumerate(actions):
        if i:
            page.get_by_role("button", name="Add an action item").click()
        row = page.locator('[data-list="action"] [data-row]').nth(i)
        row.locator('input[name$="-title"]').fill(title)
        row.locator('input[name$="-owner"]').fill(owner)
        row.locator('input[name$="-due"]').fill("2026-04-15")
        row.locator('input[name$="-factor"]').fill(str(i + 1))

    wait_saved(page)
    hints = page.locator("#hints")
    assert "should have noticed" in hints.inner_text()
    assert "judges with hindsight" in hints.inner_text()

    page.get_by_role("button", name="Save and view").click()
    page.wait_for_url(f"**/postmortems/{ref}")
    page.locator('input[name="reviewers"][value="reviewer@x.example"]').check()
    page.get_by_role("button", name="Ask for review").click()
    assert "Review requested." in page.locator(".flash").inner_text()
    assert page.get_by_role("button", name="Approve and publish").count() == 0

    reviewer = browser.new_context().new_page()
    sign_in(reviewer, live_url, "reviewer@x.example")
    reviewer.goto(f"{live_url}/postmortems/{ref}")
    assert "should have noticed" in reviewer.locator(".review-hints").inner_text()
    reviewer.get_by_label("Comment").fill("Clear timeline; please reword the hint later.")
    reviewer.get_by_role("button", name="Approve and publish").click()
    assert "Approved and published." in reviewer.locator(".flash").inner_text()

    page.goto(f"{live_url}/postmortems/{ref}")
    body = page.locator("article").inner_text()
    assert "PUBLISHED" in body.upper()
    for words in [t for _a, t in timeline] + factors + [t for t, _o in actions]:
        assert words in body, words
    assert "Track every certificate in one inventory." in body


def test_conflicting_edits_lose_neither_text(page, browser, live_app, live_url, live_user):
    # The second writer is not listed on the draft: they may open it where every reader may
    # read drafts (by default, only those involved in it may).
    live_app.config["UNPUBLISHED_READERS"] = "everyone"
    live_user("one@x.example", role="author")
    live_user("two@x.example", role="author")
    sign_in(page, live_url, "one@x.example")
    ref = start(page, live_url, "Queue consumers stalled")
    other = browser.new_context().new_page()
    sign_in(other, live_url, "two@x.example")
    other.goto(f"{live_url}/postmortems/{ref}/edit")

    page.locator("#f-summary").fill("Words from the first writer.")
    wait_saved(page)
    other.locator("#f-summary").fill("Words from the second writer.")
    other.locator("#conflict-banner").wait_for(state="visible", timeout=10_000)
    assert "Not saved" in other.locator("#save-state").inner_text()

    other.get_by_role("button", name="Compare and choose").click()
    conflict = other.locator("main").inner_text()
    assert "Words from the first writer." in conflict
    assert "Words from the second writer." in conflict
    other.get_by_role("button", name="Save with these choices").click()
    other.wait_for_url("**/edit")
    assert other.locator("#f-summary").input_value() == "Words from the second writer."

    page.goto(f"{live_url}/postmortems/{ref}/revisions")
    page.locator('input[name="a"]').nth(1).check()
    page.locator('input[name="b"]').nth(0).check()
    page.get_by_role("button", name="Compare").click()
    diff = page.locator("main").inner_text()
    assert "first" in diff and "second" in diff


def test_a_reload_mid_edit_keeps_every_word(page, live_url, live_user):
    live_user("writer@x.example", role="author")
    sign_in(page, live_url, "writer@x.example")
    ref = start(page, live_url, "Search nodes ran out of disk")
    words = "Every single word of this paragraph must survive a reload of the page."
    page.locator("#f-response").fill(words)
    page.locator('[data-list="factor"] textarea').first.fill("Log volume grew without a cap.")
    page.reload()  # straight away, before the autosave timer fires
    assert page.locator("#f-response").input_value() == words
    assert page.locator('[data-list="factor"] textarea').first.input_value() == (
        "Log volume grew without a cap."
    )
    page.locator("#save-state", has_text="All changes saved").wait_for(timeout=10_000)
    page.goto(f"{live_url}/postmortems/{ref}")
    assert words in page.locator("article").inner_text()


def test_the_form_works_without_javascript(browser, live_url, live_user):
    live_user("writer@x.example", role="author")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_url, "writer@x.example")
    ref = start(page, live_url, "Feature flag flipped for all tenants")
    page.get_by_role("button", name="Add a contributing factor").click()
    assert page.locator('[data-list="factor"] [data-row]').count() == 2
    page.locator('[data-list="factor"] textarea').nth(0).fill("No staged rollout for flags.")
    page.locator('[data-list="factor"] textarea').nth(1).fill("The flag had no owner.")
    page.locator('[name="factor-0-position"]').fill("2")
    page.locator('[name="factor-1-position"]').fill("1")
    page.get_by_role("button", name="Save", exact=True).click()
    assert "Saved." in page.locator(".flash").inner_text()
    page.goto(f"{live_url}/postmortems/{ref}")
    factors = page.locator(".factors li").all_inner_texts()
    assert factors == ["The flag had no owner.", "No staged rollout for flags."]
    context.close()


def test_the_preview_says_why_a_section_is_shown_as_typed(page, live_url, live_user):
    live_user("writer@x.example", role="author", teams=["payments"])
    sign_in(page, live_url, "writer@x.example")
    start(page, live_url, "Nested brackets in the summary")
    page.locator("#f-summary").fill("[" * 8000 + "]" * 8000)
    page.locator('[data-preview-toggle="f-summary"]').click()
    pane = page.locator('[data-preview-for="f-summary"]')
    notice = pane.locator(".preview-notice")
    notice.wait_for(timeout=10_000)
    assert "too many nested or unclosed brackets" in notice.inner_text()
    assert pane.locator("pre.as-typed").inner_text().startswith("[[[")
    page.locator('[data-preview-toggle="f-summary"]').click()  # back to writing
    page.locator("#f-summary").fill("Plain **bold** words")
    page.locator('[data-preview-toggle="f-summary"]').click()
    pane.locator("strong").wait_for(timeout=10_000)
    assert pane.locator(".preview-notice").count() == 0
