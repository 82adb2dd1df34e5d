"""A reviewer finds the review asked of them in Chromium: the count in the header and the
"Waiting for my review" list on the home page, after the author asked through the page."""

import pytest

from kb import postmortems
from kb.db import get_session
from kb.document import validate
from tests.browser.conftest import sign_in
from tests.conftest import document

pytestmark = pytest.mark.browser


def test_a_reviewer_sees_the_count_and_the_inbox(browser, live_app, live_url, live_user):
    live_app.config["MAIL_BACKEND"] = "memory"
    live_user("writer@x.example", role="author", teams=["payments"])
    live_user("reviewer@x.example", role="author", teams=["search"])
    with live_app.app_context():
        session = get_session()
        doc = document(
            ref="INC-2026-001", status="draft", published_at=None, authors=["writer@x.example"]
        )
        postmortems.save_document(session, validate(doc))
        session.commit()

    author = browser.new_context().new_page()
    sign_in(author, live_url, "writer@x.example")
    author.goto(f"{live_url}/postmortems/INC-2026-001")
    assert author.locator(".review-count").count() == 0
    author.get_by_label("reviewer").check()
    author.get_by_role("button", name="Ask for review").click()
    author.wait_for_url(f"{live_url}/postmortems/INC-2026-001")
    assert "writer asked reviewer to review" in author.locator(".review-thread").inner_text()
    author.context.close()

    reviewer = browser.new_context().new_page()
    sign_in(reviewer, live_url, "reviewer@x.example")
    reviewer.goto(f"{live_url}/")
    count = reviewer.locator("header .review-count")
    assert count.is_visible()
    assert count.inner_text() == "Reviews 1"
    inbox = reviewer.get_by_role("region", name="Waiting for my review")
    assert inbox.is_visible()
    assert "Checkout errors after a configuration push" in inbox.inner_text()
    assert "INC-2026-001" in inbox.inner_text()

    count.click()
    reviewer.wait_for_url(f"{live_url}/#waiting")
    inbox.get_by_role("link", name="Checkout errors after a configuration push").click()
    reviewer.wait_for_url(f"{live_url}/postmortems/INC-2026-001#review")
    assert reviewer.get_by_role("button", name="Approve and publish").is_visible()

    [mail] = live_app.extensions["kb_review_mailbox"].outbox
    assert mail["To"] == "reviewer <reviewer@x.example>"
    reviewer.context.close()
