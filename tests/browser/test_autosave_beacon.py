"""Leaving the editor mid-edit: the last words are saved by sendBeacon, and no "Saved."
message turns up on a later page (one used to, now and then, beside the next page's own:
tests/test_autosave_flash.py shows why, request by request)."""

import time

import pytest

from kb import postmortems
from kb.db import get_session
from tests.browser.conftest import sign_in
from tests.browser.test_writing import start

pytestmark = pytest.mark.browser
WORDS = "Typed just before the tab went elsewhere."


def _summary(live_app, ref):
    with live_app.app_context():
        return postmortems.get(get_session(), ref, None).summary


def test_leaving_the_editor_saves_by_beacon_and_leaves_no_message(
    page, live_app, live_url, live_user
):
    live_user("writer@x.example", role="author", teams=["payments"])
    sign_in(page, live_url, "writer@x.example")
    ref = start(page, live_url, "Words saved on the way out")
    page.locator("#f-summary").fill(WORDS)
    page.goto(f"{live_url}/")  # at once: the autosave timer has not fired, the beacon goes
    deadline = time.monotonic() + 15
    while _summary(live_app, ref) != WORDS and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert _summary(live_app, ref) == WORDS
    page.goto(f"{live_url}/postmortems/{ref}")
    assert WORDS in page.locator("article").inner_text()
    assert page.locator(".flash").count() == 0, page.locator(".flash").all_inner_texts()
