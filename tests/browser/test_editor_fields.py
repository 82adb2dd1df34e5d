"""The editor in Chromium: a value the server refuses is marked at its field; the rest saves."""

import json
import urllib.request

import pytest

from kb import accounts
from kb.db import get_session
from tests.browser.conftest import sign_in
from tests.browser.test_writing import start

pytestmark = pytest.mark.browser


def api_document(live_app, live_url, email, ref):
    """The postmortem as another session sees it: the API, with a token of its own."""
    with live_app.app_context():
        session = get_session()
        _row, token = accounts.create_token(session, email, "browser-test")
        session.commit()
    request = urllib.request.Request(  # noqa: S310 (the test's own server, over http)
        f"{live_url}/api/v1/postmortems/{ref}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.load(response)


def autosaved(response, words):
    """Whether `response` answers the autosave that carried `words`."""
    request = response.request
    return request.url.endswith("/autosave") and words in (request.post_data or "")


def test_a_refused_value_is_marked_and_every_other_field_still_saves(
    page, live_app, live_url, live_user
):
    live_user("writer@x.example", role="author", teams=["payments"])
    sign_in(page, live_url, "writer@x.example")
    ref = start(page, live_url, "Checkout errors after a certificate expired")
    factors = [
        "The certificate was renewed by hand.",
        "The expiry warning went to a mailbox nobody reads.",
        "Retries multiplied the load.",
        "The change skipped the staged rollout.",
    ]
    for i, text in enumerate(factors):
        if i:
            page.get_by_role("button", name="Add a contributing factor").click()
        page.locator('[data-list="factor"] textarea').nth(i).fill(text)
    page.locator('#save-state[data-kind="ok"]').wait_for(timeout=10_000)

    category = page.locator('[data-list="factor"] [data-row]').nth(3).locator("input[list]")
    category.fill("ops/infra")
    with page.expect_response(lambda r: autosaved(r, "saved all the same")) as answer:
        page.locator("#f-summary").fill("Typed after the refused category: saved all the same.")
    assert answer.value.json()["refused"][0]["input"].endswith("-category")
    state = page.locator("#save-state")
    state.filter(has_text="except").wait_for(timeout=10_000)
    assert "Contributing factor 4, category" in state.inner_text()
    assert category.get_attribute("aria-invalid") == "true"
    message = page.locator(f"#{category.get_attribute('aria-describedby')}")
    assert message.inner_text().startswith("Contributing factor 4, category: must be a name")
    stored = api_document(live_app, live_url, "writer@x.example", ref)
    assert stored["summary"] == "Typed after the refused category: saved all the same."
    assert [f["text"] for f in stored["contributing_factors"]] == factors

    with page.expect_response(lambda r: autosaved(r, "still saved")) as answer:
        page.locator("#f-impact").fill("Typed later: still saved.")
    assert answer.value.status == 200 and answer.value.json()["saved"] is True
    stored = api_document(live_app, live_url, "writer@x.example", ref)
    assert stored["impact"] == "Typed later: still saved."

    category.fill("Change Management")
    page.locator('#save-state[data-kind="ok"]').wait_for(timeout=10_000)
    assert category.get_attribute("aria-invalid") is None
    assert page.locator(".field-error").count() == 0
    stored = api_document(live_app, live_url, "writer@x.example", ref)
    assert stored["contributing_factors"][3]["category"] == "change-management"
    assert state.inner_text() == f"All changes saved (version {stored['version']})."
