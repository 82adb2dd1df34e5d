"""Amending a published postmortem in Chromium: no autosave, a required note, seconds kept."""

import pytest

from kb import postmortems
from kb.db import get_session
from kb.document import validate
from tests.browser.conftest import sign_in
from tests.conftest import document

pytestmark = pytest.mark.browser


def _stored(live_app, ref):
    with live_app.app_context():
        pm = postmortems.get(get_session(), ref, None)
        return pm.version, pm.status, pm.started_at, pm.published_at, pm.summary


def test_amending_a_published_postmortem(browser, live_app, live_url, live_user):
    live_user("writer@x.example", role="author", teams=["payments"])
    with live_app.app_context():
        session = get_session()
        doc = document(
            ref="INC-2026-001",
            authors=["writer@x.example"],
            started_at="2026-03-02T09:14:55Z",
            published_at="2026-03-09T13:41:55Z",
        )
        postmortems.save_document(session, validate(doc))
        session.commit()
    # a browser in another time zone: the page's script shows every time in it
    context = browser.new_context(timezone_id="America/New_York")
    page = context.new_page()
    sign_in(page, live_url, "writer@x.example")
    page.goto(f"{live_url}/postmortems/INC-2026-001/edit")
    assert page.locator("#f-started_at").input_value() == "2026-03-02T04:14"
    assert "2026-03-09 13:41:55" in page.locator(".published-at").inner_text()

    page.locator("#f-summary").fill("Checkout failed for 25 minutes after a push.")
    page.wait_for_timeout(2500)  # longer than the autosave delay: nothing may be saved
    assert _stored(live_app, "INC-2026-001")[0] == 1
    assert "amendment note" in page.locator("#save-state").inner_text()

    page.get_by_role("button", name="Save", exact=True).click()
    assert "amendment needs a note" in page.locator(".flash-error").inner_text()
    assert page.locator("#f-summary").input_value().endswith("after a push.")
    assert _stored(live_app, "INC-2026-001")[0] == 1

    page.locator("#f-note").fill("said how long checkout failed")
    page.get_by_role("button", name="Save and view").click()
    page.wait_for_url(f"{live_url}/postmortems/INC-2026-001")
    assert "Amended" in page.locator(".amendments").inner_text()
    assert "said how long checkout failed" in page.locator(".amendments").inner_text()
    version, status, started, published, summary = _stored(live_app, "INC-2026-001")
    assert (version, status) == (2, "published")
    assert summary == "Checkout failed for 25 minutes after a push."
    assert started.isoformat() == "2026-03-02T09:14:55+00:00"
    assert published.isoformat() == "2026-03-09T13:41:55+00:00"
    context.close()
