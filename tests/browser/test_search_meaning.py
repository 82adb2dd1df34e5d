"""The search page explains what it searched: synonyms, a word searched as written, a
corrected typo, a question's left-out words and a relaxed long query, and labels drafts; at a
phone's width and a desktop's."""

import pytest

from tests.browser.conftest import sign_in
from tests.browser.test_layout import sideways_overflow

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1440])
def test_the_results_page_explains_itself_at_both_widths(demo, browser, live_url, width, tmp_path):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    violations = []
    page.on("console", lambda message: violations.append(message.text))
    sign_in(page, live_url, "admin@brightcart.example")  # sees drafts whatever the setting

    page.goto(f"{live_url}/search?q=ssl+cert")
    also = page.locator(".search-also")
    assert also.is_visible() and "certificate" in also.inner_text()
    assert page.locator(".hit").count() >= 1
    assert page.locator(".hit mark").count() >= 1
    # A draft among the hits wears its badge.
    badges = page.locator(".hit .badge.status-draft")
    assert badges.count() >= 1 and badges.first.text_content() == "Draft"
    assert sideways_overflow(page)[0] <= width, sideways_overflow(page)
    page.screenshot(path=str(tmp_path / f"search-synonyms-{width}.png"), full_page=True)

    page.goto(f"{live_url}/search?q=%22certificates%22")
    exact = page.locator(".search-exact")
    assert exact.is_visible() and exact.inner_text().endswith(": certificates")
    assert page.locator(".hit").count() >= 1
    assert page.locator(".search-also").count() == 0
    assert sideways_overflow(page)[0] <= width, sideways_overflow(page)
    page.screenshot(path=str(tmp_path / f"search-exact-{width}.png"), full_page=True)

    page.goto(f"{live_url}/search?q=certifcate+expird")
    corrected = page.locator(".suggestion.corrected")
    assert corrected.is_visible()
    assert "Showing results for" in corrected.inner_text()
    assert page.locator(".hit").count() >= 1
    assert sideways_overflow(page)[0] <= width, sideways_overflow(page)
    page.screenshot(path=str(tmp_path / f"search-typo-{width}.png"), full_page=True)
    corrected.locator("a.literal").click()
    page.wait_for_url("**literal=1**")
    assert page.locator(".hit").count() == 0
    assert "Did you mean" in page.locator(".suggestion").inner_text()

    page.goto(f"{live_url}/search?q=has+a+config+push+broken+checkout+before%3F")
    assert "has, before" in page.locator(".search-ignored").inner_text()
    assert page.locator(".hit").count() >= 1
    assert sideways_overflow(page)[0] <= width, sideways_overflow(page)
    page.screenshot(path=str(tmp_path / f"search-question-{width}.png"), full_page=True)
    assert not [v for v in violations if "Content Security Policy" in v]
    context.close()
