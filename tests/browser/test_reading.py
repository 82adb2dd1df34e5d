"""A person signs in, reads the list of postmortems and opens one."""

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def test_sign_in_read_the_list_and_a_postmortem(demo, page, live_url, tmp_path):
    page.goto(live_url)
    assert "/sign-in" in page.url
    sign_in(page, live_url, "reader@brightcart.example")
    assert page.get_by_role("heading", name="Postmortems").is_visible()
    items = page.locator(".pm-item")
    assert items.count() >= 25
    first_title = items.first.locator(".pm-title").inner_text()
    items.first.locator(".pm-title").click()
    page.wait_for_url("**/postmortems/**")
    assert page.get_by_role("heading", level=1).inner_text() == first_title
    assert page.locator(".pm-section").count() >= 3
    page.screenshot(path=str(tmp_path / "detail.png"), full_page=True)


def test_the_page_follows_the_content_security_policy(demo, page, live_url):
    violations = []
    page.on("console", lambda message: violations.append(message.text))
    sign_in(page, live_url, "admin@brightcart.example")
    page.goto(f"{live_url}/admin/audit")
    assert page.get_by_role("heading", name="Audit log").is_visible()
    assert not [v for v in violations if "Content Security Policy" in v]
