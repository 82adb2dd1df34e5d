"""An admin curates a theme in Chromium, by keyboard, at a phone's and a desktop's width."""

import pytest
from sqlmodel import select

from kb.db import get_session
from kb.insights import themes
from kb.models import AuditEvent, Theme
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def rebuilt(demo, live_app):
    with live_app.app_context():
        session = get_session()
        report = themes.rebuild(session)
        session.commit()
    return report


def _no_sideways_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [390, 1440])
def test_an_admin_pins_a_label_by_keyboard_and_the_forms_fit(
    rebuilt, browser, live_app, live_url, width
):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.route("**/*.js", lambda route: route.abort())  # the forms need no script
    try:
        sign_in(page, live_url, "admin@brightcart.example")
        page.goto(f"{live_url}/themes")
        assert _no_sideways_scroll(page)
        terms = page.locator(".theme-list .theme .theme-terms")
        assert terms.count() >= 5 and terms.first.inner_text().startswith("Key terms:")
        page.locator(".theme-list .theme h2 a").first.click()
        page.wait_for_url("**/themes/*")
        assert _no_sideways_scroll(page)
        for name in ("Rename", "Merge", "Split"):
            assert page.get_by_role("heading", name=name, exact=True).is_visible()
        assert page.locator(".split-form input[type=checkbox]").count() >= 2
        box = page.locator(".split-form input[type=checkbox]").first.bounding_box()
        assert box["width"] < 40  # the box stays beside its label
        # Keyboard only: focus the label field, type, press Enter.
        page.get_by_label("Label", exact=True).focus()
        page.keyboard.type(f"Pinned at {width}")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.get_by_role("heading", level=1).inner_text() == f"Pinned at {width}"
        assert "Label pinned" in page.locator(".flash").inner_text()
        assert _no_sideways_scroll(page)
    finally:
        context.close()
    with live_app.app_context():
        session = get_session()
        assert session.exec(select(Theme).where(Theme.label == f"Pinned at {width}")).one()
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "theme-rename")).all()
