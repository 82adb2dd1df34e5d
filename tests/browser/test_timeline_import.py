"""Importing timeline entries in Chromium: an author uploads a CSV from the editor, unticks one
entry, confirms, and finds the others in the timeline, in time order."""

import pytest

from kb import postmortems
from kb.db import get_session
from kb.document import validate
from tests.browser.conftest import sign_in
from tests.conftest import document

pytestmark = pytest.mark.browser

CSV = b"""time,text,source
2026-03-02T09:20:00Z,Checkout errors above 5%,grafana
2026-03-02T09:31:00Z,Payments on-call paged,pagerduty
2026-03-02T09:45:00Z,Someone asks for lunch plans,slack #general
2026-03-02T10:05:00Z,Config push rolled back; errors stop,deploy log
2026-03-02T18:00:00Z,Long after the incident,slack
"""


@pytest.mark.parametrize("width", [390, 1440])
def test_an_author_imports_a_csv_and_unticks_one_entry(
    browser, live_app, live_url, live_user, tmp_path, width
):
    live_user("writer@x.example", role="author", teams=["payments"])
    with live_app.app_context():
        session = get_session()
        raw = document(
            ref="INC-2026-014",
            status="draft",
            published_at=None,
            authors=["writer@x.example"],
            timeline=[{"at": "2026-03-02T09:14:00Z", "text": "Config push reaches every region"}],
        )
        postmortems.save_document(session, validate(raw))
        session.commit()
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    sign_in(page, live_url, "writer@x.example")
    page.goto(f"{live_url}/postmortems/INC-2026-014/edit")
    page.get_by_role("link", name="Import entries").click()
    page.get_by_role("heading", name="Import timeline entries").wait_for()
    assert page.get_by_label("From (UTC)").input_value() == "2026-03-02T08:44"
    page.get_by_label("CSV", exact=False).check()
    page.set_input_files(
        "#f-file", files=[{"name": "timeline.csv", "mimeType": "text/csv", "buffer": CSV}]
    )
    page.screenshot(path=str(tmp_path / f"timeline-import-form-{width}.png"), full_page=True)
    page.get_by_role("button", name="Show the entries").click()

    page.get_by_role("heading", name="Choose timeline entries").wait_for()
    assert page.get_by_text("1 outside this window was left out").is_visible()
    boxes = page.locator('input[name="entry"]')
    assert boxes.count() == 4
    assert page.get_by_text("4 of 4 chosen").is_visible()  # the script's count
    page.get_by_text("Someone asks for lunch plans").click()  # the label unticks its box
    assert page.get_by_text("3 of 4 chosen").is_visible()
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"the preview is {scroll} px wide at {width} px"
    page.screenshot(path=str(tmp_path / f"timeline-import-preview-{width}.png"), full_page=True)
    page.get_by_role("button", name="Add the chosen entries").click()

    page.wait_for_url("**/edit#s-timeline")
    assert page.get_by_text("Added 3 entries from CSV to the timeline.").is_visible()
    texts = page.locator('[data-list="timeline"] input[name$="-text"]')
    shown = [texts.nth(i).input_value() for i in range(texts.count())]
    assert [text for text in shown if text] == [  # the editor adds one blank row
        "Config push reaches every region",
        "Checkout errors above 5%",
        "Payments on-call paged",
        "Config push rolled back; errors stop",
    ]
    editor = page.evaluate("document.getElementById('editor').getBoundingClientRect().right")
    assert editor <= width, f"the editor is {editor} px wide at {width} px"
    page.locator("#s-timeline").screenshot(path=str(tmp_path / f"timeline-import-done-{width}.png"))
    context.close()


def test_a_slack_export_folder_chosen_in_chromium_is_read_by_its_paths(
    browser, live_app, live_url, live_user, tmp_path
):
    """Chromium sends each file of a chosen folder with its path: the export reads as one."""
    from tests.test_timeline_import import EXPECTED_SLACK, slack_files

    live_user("writer@x.example", role="author", teams=["payments"])
    with live_app.app_context():
        session = get_session()
        raw = document(
            ref="INC-2026-014", status="draft", published_at=None, authors=["writer@x.example"]
        )
        postmortems.save_document(session, validate(raw))
        session.commit()
    folder = tmp_path / "slack-export"
    for name, data in slack_files():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    sign_in(page, live_url, "writer@x.example")
    page.goto(f"{live_url}/postmortems/INC-2026-014/timeline/import")
    page.set_input_files("#f-folder", str(folder))
    page.get_by_role("button", name="Show the entries").click()
    page.get_by_role("heading", name="Choose timeline entries").wait_for()
    assert page.get_by_text("5 entries from Slack #inc-2026-014").is_visible()
    sources = page.locator(".import-entry-source")
    assert [sources.nth(i).inner_text() for i in range(sources.count())] == [
        source for _at, _text, source in EXPECTED_SLACK
    ]
    context.close()
