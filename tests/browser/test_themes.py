"""Themes, figures and similar incidents in Chromium, as a team lead and an author use them."""

import pytest

from kb.db import get_session
from kb.insights import themes
from tests.browser.conftest import sign_in
from tests.browser.test_writing import start

pytestmark = pytest.mark.browser


@pytest.fixture
def rebuilt(demo, live_app):
    with live_app.app_context():
        session = get_session()
        report = themes.rebuild(session)
        session.commit()
    return report


def test_themes_lead_to_their_postmortems_and_figures_draw(rebuilt, page, live_url):
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    sign_in(page, live_url, "reader@brightcart.example")
    page.get_by_role("link", name="Themes").first.click()
    cards = page.locator(".theme-list .theme")
    assert cards.count() >= 5  # the demo's recurring themes, biggest first
    first = cards.first
    label = first.locator("h2").inner_text()
    assert first.locator(".quotes li").count() >= 2
    assert "done" in first.locator(".theme-actions").inner_text()

    first.locator("h2 a").click()
    page.wait_for_url("**/themes/**")
    assert page.get_by_role("heading", level=1).inner_text() == label
    quote = page.locator(".quotes li a.ref").first
    ref = quote.inner_text()
    quote.click()
    page.wait_for_url(f"**/postmortems/{ref}#factor-*")
    assert page.get_by_role("heading", name="Similar incidents").is_visible()
    similar = page.locator("#similar .similar-list li")
    assert 1 <= similar.count() <= 5 and "Shares" in similar.first.inner_text()
    assert ref not in [similar.nth(i).locator(".ref").inner_text() for i in range(similar.count())]

    page.get_by_role("link", name="Figures").first.click()
    page.wait_for_url("**/figures**")
    assert page.locator("svg").count() >= 6
    assert page.get_by_role("link", name="Download CSV").is_visible()
    assert not [m for m in messages if "Content Security Policy" in m]


def test_the_editor_suggests_similar_past_incidents_while_writing(rebuilt, page, live_url):
    sign_in(page, live_url, "author@brightcart.example")
    start(page, live_url, "DNS lookups failed after a resolver failover")
    page.locator("#f-summary").fill(
        "Clients kept a stale DNS record: the resolver cache held the old address."
    )
    card = page.locator("#similar-card")
    card.wait_for(state="visible", timeout=10_000)
    suggestions = card.locator("#similar-list li")
    assert 1 <= suggestions.count() <= 5
    text = card.inner_text()
    assert "DNS" in text  # a past DNS incident of the demo, and what it shares
    href = suggestions.first.locator("a").get_attribute("href")
    assert href.startswith("/postmortems/")
