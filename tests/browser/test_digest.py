"""The digest preview in a real browser: the e-mail in its frame, within every CSP."""

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def test_the_preview_shows_the_email_and_breaks_no_policy(demo, page, live_url, tmp_path):
    console = []
    page.on("console", lambda message: console.append(message.text))
    sign_in(page, live_url, "reader@brightcart.example")
    page.goto(f"{live_url}/digest/2026-10")
    page.wait_for_load_state("networkidle")
    frame = page.frame_locator("iframe.digest-frame")
    assert frame.get_by_role("heading", name="October 2026").is_visible()
    assert frame.get_by_text("Recommended read").is_visible()
    # Listed among the month's incidents, and again as foreseen by its pre-mortem.
    titles = frame.locator(".entry-title", has_text="Checkout starved of database")
    assert titles.count() == 2 and titles.first.is_visible()
    assert frame.get_by_text("Anticipating failure").is_visible()
    # The e-mail's inline styles apply inside the frame (its own CSP allows them) ...
    badge = frame.locator(".sev").first
    assert badge.evaluate("e => getComputedStyle(e).color") == "rgb(255, 255, 255)"
    # ... the page's script fitted the frame to its content, and nothing was refused.
    height = page.locator("iframe.digest-frame").evaluate("e => e.getBoundingClientRect().height")
    assert height > 2000
    assert not [m for m in console if "Content Security Policy" in m], console
    page.screenshot(path=str(tmp_path / "digest.png"), full_page=True)

    page.get_by_role("link", name="Plain text").click()
    assert "PUBLISHED IN OCTOBER 2026" in page.locator("pre.digest-text").inner_text()
