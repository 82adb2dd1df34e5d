"""Action items that follow their tracker, in Chromium at a phone's and a desktop's width:
what the tracker said and when, a failure beside its item, and "Create in GitHub" without
JavaScript and by keyboard. Screenshots go to KB_SCREENSHOTS when it is set."""

import os

import pytest

from kb import postmortems
from kb.db import get_session
from kb.document import validate
from kb.trackers import setup, sync
from tests.browser.conftest import sign_in
from tests.conftest import document
from tests.fake_trackers import FakeTracker

pytestmark = pytest.mark.browser

GH_WEB = "https://github.example"
JIRA_WEB = "https://jira.example"
TOKEN = "ghp_browser-s3cret"


@pytest.fixture
def trackers(live_app, monkeypatch):
    monkeypatch.setenv("KB_BROWSER_GH", TOKEN)
    gh = FakeTracker("github", token=TOKEN, web_url=GH_WEB).start()
    jira = FakeTracker("jira", web_url=JIRA_WEB).start()
    gh.issues[("acme", "shop", "41")] = {"state": "closed", "state_reason": "completed"}
    gh.issues[("acme", "shop", "42")] = {"state": "open"}
    jira.broken = 502
    with live_app.app_context():
        session = get_session()
        setup.add(
            session,
            "github",
            GH_WEB,
            api_url=gh.api_url,
            token_env="KB_BROWSER_GH",
            project="acme/shop",
        )
        setup.add(session, "jira", JIRA_WEB, api_url=jira.api_url)
        items = [
            ("Stage configuration pushes region by region", f"{GH_WEB}/acme/shop/issues/41"),
            ("Alert on the checkout error ratio", f"{GH_WEB}/acme/shop/issues/42"),
            ("Write the rollback runbook", f"{JIRA_WEB}/browse/OPS-7"),
            ("Add a canary stage to the configuration pipeline", None),
        ]
        doc = document(
            ref="INC-2026-001",
            status="draft",
            published_at=None,
            authors=["writer@x.example"],
            action_items=[
                {"title": t, "owner": "platform", "due": "2026-04-01", "url": u} for t, u in items
            ],
        )
        postmortems.save_document(session, validate(doc))
        session.commit()
        report = sync.sync(session, commit=session.commit, timeout=2)
        assert [c.after for c in report.changes] == ["done"] and len(report.failures) == 1
    yield gh
    gh.stop()
    jira.stop()


@pytest.mark.parametrize("width", (390, 1440))
def test_tracker_state_and_create_in_tracker(browser, live_url, live_user, trackers, width):
    live_user("writer@x.example", role="author", teams=["payments"])
    context = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    sign_in(page, live_url, "writer@x.example")
    page.goto(f"{live_url}/postmortems/INC-2026-001#action_items")
    rows = page.locator("#action_items tbody tr")
    assert "GitHub: closed" in rows.nth(0).inner_text()
    assert "read just now" in rows.nth(0).inner_text()
    assert "GitHub: open" in rows.nth(1).inner_text()
    assert "Jira could not be read" in rows.nth(2).inner_text()
    assert "HTTP 502" in rows.nth(2).inner_text()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"
    button = rows.nth(3).get_by_role(
        "button", name="Create in GitHub for Add a canary stage to the configuration pipeline"
    )
    assert button.is_visible()
    box = button.bounding_box()
    assert box["height"] >= 20 and box["width"] >= 40
    if os.environ.get("KB_SCREENSHOTS"):
        page.locator("#action_items").screenshot(
            path=os.path.join(os.environ["KB_SCREENSHOTS"], f"trackers-{width}.png")
        )

    button.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")  # the form posts without JavaScript
    assert "now links to https://github.example/acme/shop/issues/102" in page.content()
    (method, path, _, body) = trackers.requests[-1]
    assert (method, path) == ("POST", "/repos/acme/shop/issues")
    assert body["title"] == "Add a canary stage to the configuration pipeline"
    assert f"{live_url}/postmortems/INC-2026-001" in body["body"]
    link = page.locator("#action_items tbody tr").nth(3).get_by_role("link")
    assert link.first.get_attribute("href") == f"{GH_WEB}/acme/shop/issues/102"
    assert page.get_by_role("button", name="Create in GitHub").count() == 0
    context.close()
