"""A person half-remembers an incident, types it in the header box, narrows, and finds it."""

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def test_search_from_the_header_narrow_and_see_the_passage(demo, page, live_url, tmp_path):
    violations = []
    page.on("console", lambda message: violations.append(message.text))
    sign_in(page, live_url, "reader@brightcart.example")
    box = page.get_by_role("searchbox", name="Search postmortems")
    box.fill("relay certificate expired")
    box.press("Enter")
    page.wait_for_url("**/search?q=*")
    assert page.get_by_role("heading", name="Search").is_visible()
    first = page.locator(".hit").first
    assert "certificate" in first.locator(".pm-title").inner_text().lower()
    assert first.locator(".passage mark").count() >= 1
    assert first.locator(".passage-section").inner_text() != ""
    # Narrow by a facet: the count shown is the number of results after the click.
    facet = page.locator(".facet").filter(has_text="Severity").locator(".facet-link").first
    expected = int(facet.locator(".facet-count").inner_text())
    facet.click()
    page.wait_for_url("**severity=*")
    assert page.locator(".facet-link.selected").count() == 1
    assert page.locator(".hit").count() == min(expected, 10)
    assert page.locator(".hit mark").count() >= 1
    page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
    # A misspelling that finds nothing is searched corrected; the words as typed are offered
    # and, searched, offer their correction.
    page.goto(f"{live_url}/search?q=certifcate")
    assert "Showing results for" in page.locator(".suggestion.corrected").inner_text()
    assert page.locator(".hit").count() >= 1
    page.locator(".suggestion a.literal").click()
    page.wait_for_url("**literal=1**")
    assert page.locator(".hit").count() == 0
    page.locator(".suggestion").get_by_role("link", name="certificate", exact=True).click()
    assert page.locator(".hit").count() >= 1
    assert not [v for v in violations if "Content Security Policy" in v]
