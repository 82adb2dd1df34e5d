"""A pre-mortem in Chromium: written with its risks (one added from the radar), reviewed and
published; a later incident names it and says which risk happened; the pre-mortem's page
shows the incident under "What happened after"."""

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def wait_saved(page):
    page.locator('#save-state[data-kind="ok"]').wait_for(timeout=10_000)


def start(page, live_url, title, kind):
    page.goto(f"{live_url}/postmortems/new")
    page.get_by_label("What happened, in a few words?").fill(title)
    page.locator(f'input[name="kind"][value="{kind}"]').check()
    page.get_by_role("button", name="Start writing").click()
    page.wait_for_url("**/edit")
    return page.url.split("/postmortems/")[1].split("/")[0]


def add_from_radar(page):
    """Click the radar panel's first "Add as risk" once the panel has followed the form;
    (source, text) of the risk it proposed."""
    button = page.locator("#radar button.radar-add").first
    button.wait_for(timeout=15_000)
    source, text = button.get_attribute("value").split("\t", 1)
    button.click()
    return source, text


def screenshots(page, url, name, tmp_path):
    for width in (390, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(url)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} is wider than {width} px by {overflow} px"
        page.screenshot(path=str(tmp_path / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_pre_mortem_foresees_an_incident(page, browser, demo, live_url, live_user, tmp_path):
    live_user("writer@x.example", role="author", teams=["payments"])
    live_user("reviewer@x.example", role="author", teams=["platform"])
    sign_in(page, live_url, "writer@x.example")
    ref = start(page, live_url, "Move checkout to the PgBouncer connection pooler", "pre-mortem")
    assert ref.startswith("PM-")
    assert page.locator("#f-severity").count() == 0 and page.locator("#f-started_at").count() == 0

    page.locator("#f-planned_at").fill("2026-12-02T08:00")
    page.locator("#f-trigger").select_option("deploy")
    page.locator("#f-services").fill("checkout-api")
    page.locator("#f-teams").fill("payments")
    page.locator("#f-change").fill(
        "Replace checkout-api's in-process pool with PgBouncer in transaction mode."
    )
    page.locator("#f-rollback").fill("Flip `db.pooler` off: pods reconnect directly in a minute.")
    first = page.locator('[data-list="risk"] [data-row]').nth(0)
    first.locator('textarea[name$="-text"]').fill("Prepared statements break in transaction mode")
    first.locator('select[name$="-likelihood"]').select_option("medium")
    first.locator('select[name$="-impact"]').select_option("high")
    first.locator('textarea[name$="-mitigation"]').fill(
        "Turn prepared statements off in the driver"
    )
    first.locator('input[name$="-owner"]').fill("payments")
    first.locator('textarea[name$="-signals"]').fill("Errors naming prepared statements in logs")

    # The demo's past incidents of checkout-api fill the radar as the services are typed.
    source, proposed = add_from_radar(page)
    rows = page.locator('[data-list="risk"] [data-row]')
    assert rows.count() == 2
    second = rows.nth(1)
    assert second.locator('textarea[name$="-text"]').input_value() == proposed
    assert second.locator('input[name$="-source"]').input_value() == source
    second.locator('select[name$="-likelihood"]').select_option("low")
    second.locator('select[name$="-impact"]').select_option("high")
    page.locator("#f-decision").select_option("go-with-conditions")
    wait_saved(page)
    screenshots(page, f"{live_url}/postmortems/{ref}/edit", "premortem-editor", tmp_path)

    page.goto(f"{live_url}/postmortems/{ref}/edit")
    page.get_by_role("button", name="Save and view").click()  # the mitigation's action item
    page.wait_for_url(f"**/postmortems/{ref}")
    page.locator('input[name="reviewers"][value="reviewer@x.example"]').check()
    page.get_by_role("button", name="Ask for review").click()
    assert "Review requested." in page.locator(".flash").inner_text()
    reviewer = browser.new_context().new_page()
    sign_in(reviewer, live_url, "reviewer@x.example")
    reviewer.goto(f"{live_url}/postmortems/{ref}")
    reviewer.get_by_role("button", name="Approve and publish").click()
    assert "Approved and published." in reviewer.locator(".flash").inner_text()

    page.goto(f"{live_url}/postmortems/{ref}")
    risks = page.locator("#risks").inner_text()
    assert "Prepared statements break in transaction mode" in risks
    assert source in risks and "medium × high" in risks
    actions = page.locator("#action_items").inner_text()
    assert "Turn prepared statements off in the driver" in actions
    assert "mitigates risk 1" in actions
    assert "Go, with conditions" in page.locator(".pm-facts").inner_text()

    incident = start(page, live_url, "Checkout errors after the pooler switch", "incident")
    page.locator("#f-premortem").fill(ref)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(f"**/postmortems/{incident}/edit")
    block = page.locator("#s-foreseen")
    assert proposed[:40] in block.inner_text()
    block.locator('select[name="foreseen-1-materialised"]').select_option("yes")
    block.locator('input[name="foreseen-1-note"]').fill("Pool wait above 2 s at 09:02")
    block.locator('select[name="foreseen-0-materialised"]').select_option("no")
    page.get_by_role("button", name="Save and view").click()
    page.wait_for_url(f"**/postmortems/{incident}")
    covered = page.locator("#premortem").inner_text()
    assert f"Covered by pre-mortem {ref}" in covered
    assert "Pool wait above 2 s at 09:02" in covered

    page.goto(f"{live_url}/postmortems/{ref}")
    after = page.locator("#after").inner_text()
    assert incident in after and "Checkout errors after the pooler switch" in after
    assert "HAPPENED" in after.upper() and "Risk 2" in after
    screenshots(page, f"{live_url}/postmortems/{ref}", "premortem-page", tmp_path)
    screenshots(page, f"{live_url}/postmortems/{incident}", "incident-page", tmp_path)
