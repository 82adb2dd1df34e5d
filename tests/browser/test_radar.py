"""The risk radar in Chromium: the page of a postmortem's radar, refreshed as the change is
described; and the panel inside a form, where "Add as risk" is an event with script and a
submitted value without it. At a phone's width and a desktop's."""

import os

import pytest
from flask import render_template_string, request
from flask_login import current_user, login_required

from kb.db import get_session
from kb.insights import radar, themes
from tests.browser.conftest import sign_in
from tests.browser.test_layout import sideways_overflow

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("KB_SCREENSHOTS")  # a folder to keep the screenshots in

# A stand-in for the pre-mortem editor: a form with the fields radar.js reads and the panel.
FORM = """{% extends "base.html" %}{% block content %}
<form id="editor" class="form" method="post">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <label for="t">Title</label>
  <input id="t" name="title" value="Move checkout to the new config service">
  <label for="s">Services</label>
  <input id="s" name="services" value="checkout-api, payments-gateway">
  <label for="g">Trigger</label>
  <select id="g" name="trigger"><option>config-change</option><option>deploy</option></select>
  <label for="c">Summary</label>
  <textarea id="c" name="summary" data-markdown>A configuration push.</textarea>
  {% if added %}<p id="submitted">{{ added }}</p>{% endif %}
</form>
{% with radar_ref=None, radar_form="editor", radar_add=True %}
  {% include "_radar.html" %}
{% endwith %}
{% endblock %}"""


@pytest.fixture
def rebuilt(demo, live_app):
    @login_required
    def stand_in():
        found = radar.radar(
            get_session(),
            current_user,
            ["checkout-api", "payments-gateway"],
            "config-change",
            "Move checkout to the new config service. A configuration push.",
        )
        added = request.form.get("add_risk", "").replace("\t", " | ")
        return render_template_string(FORM, radar=found, added=added)

    # Added before the server has answered anything (Flask refuses routes after that).
    live_app.add_url_rule("/test/radar-form", "radar_form", stand_in, methods=["GET", "POST"])
    with live_app.app_context():
        session = get_session()
        themes.rebuild(session)
        session.commit()


def _shot(page, name, tmp_path):
    folder = SHOTS or str(tmp_path)
    page.screenshot(path=os.path.join(folder, name), full_page=True)


@pytest.mark.parametrize("width", [390, 1440])
def test_the_radar_page_refreshes_as_the_change_is_described(
    rebuilt, browser, live_url, width, tmp_path
):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    sign_in(page, live_url, "reader@brightcart.example")
    page.goto(f"{live_url}/postmortems/INC-2026-012")
    assert sideways_overflow(page)[0] <= width, sideways_overflow(page)
    _shot(page, f"postmortem-page-{width}.png", tmp_path)
    page.get_by_role("link", name="Risk radar").click()
    page.wait_for_url("**/postmortems/INC-2026-012/radar")
    panel = page.locator("#radar")
    assert "checkout-api, payments-gateway" in panel.locator(".radar-basis").inner_text()
    assert panel.locator('[data-group="themes"] .radar-entry').count() >= 1
    assert panel.locator('[data-group="similar"] .radar-entry').count() >= 3
    assert "followed a config change" in panel.locator('[data-group="share"]').inner_text()
    similar = panel.locator('[data-group="similar"] .radar-entry a').all_inner_texts()
    assert not [s for s in similar if s.startswith("INC-2026-012")]  # never itself
    assert sideways_overflow(page)[0] <= width, sideways_overflow(page)
    _shot(page, f"radar-page-{width}.png", tmp_path)

    # Typing other services asks the API again (after a pause) and redraws the panel.
    before = panel.locator('[data-group="similar"]').inner_text()
    with page.expect_response("**/api/v1/radar") as answer:
        page.get_by_label("Services").fill("order-service")
    assert answer.value.status == 200
    # Functions, not strings: a string is evaluated with eval, which the CSP forbids.
    page.wait_for_function(
        "() => document.querySelector('#radar').dataset.radarState === 'fresh'"
        " && document.querySelector('#radar .radar-basis strong').textContent === 'order-service'"
    )
    after = panel.locator('[data-group="similar"]').inner_text()
    assert after != before and "order-service" in after
    drawn = panel.inner_text()  # drawn by the script as the server draws it
    assert "[object" not in drawn and "http" not in drawn and "undefined" not in drawn
    assert panel.locator('[data-group="themes"] .radar-why a').count() >= 1
    with page.expect_response("**/api/v1/radar"):
        page.get_by_label("Kind of change (trigger)").select_option("deploy")
    page.wait_for_function(
        "() => document.querySelector('#radar [data-group=share]').textContent.includes('a deploy')"
    )
    assert sideways_overflow(page)[0] <= width, sideways_overflow(page)
    _shot(page, f"radar-page-typed-{width}.png", tmp_path)
    assert not [m for m in messages if "Content Security Policy" in m]
    context.close()


@pytest.mark.parametrize("width", [390, 1440])
def test_add_as_risk_is_an_event_with_script_and_a_value_without(
    rebuilt, browser, live_url, width, tmp_path
):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    sign_in(page, live_url, "author@brightcart.example")
    page.goto(f"{live_url}/test/radar-form")
    page.evaluate(
        """() => { window.added = [];
          document.addEventListener('radar:add-risk', (e) => window.added.push(e.detail)); }"""
    )
    buttons = page.locator("#radar button[name=add_risk]")
    assert buttons.count() >= 3
    first = page.locator('#radar [data-group="similar"] button[name=add_risk]').first
    first.focus()
    page.keyboard.press("Enter")  # keyboard, as a person would
    added = page.evaluate("window.added")
    assert len(added) == 1 and added[0]["source"].startswith("INC-")
    assert added[0]["text"].startswith("A repeat of INC-")
    assert first.inner_text() == "Added" and first.is_disabled()
    assert page.locator("#submitted").count() == 0  # the form was not sent
    assert sideways_overflow(page)[0] <= width, sideways_overflow(page)
    _shot(page, f"radar-panel-{width}.png", tmp_path)

    # Typing in the form redraws the panel with the buttons in it.
    with page.expect_response("**/api/v1/radar"):
        page.get_by_label("Summary").fill("A configuration push to every region at once.")
    page.wait_for_function("() => document.querySelector('#radar').dataset.radarState === 'fresh'")
    again = page.locator('#radar [data-group="themes"] button[name=add_risk]').first
    again.click()
    added = page.evaluate("window.added")
    assert len(added) == 2 and added[1]["source"].startswith("Theme: ")
    context.close()

    # Without script, the button submits the form with the source and the risk.
    context = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    sign_in(page, live_url, "author@brightcart.example")
    page.goto(f"{live_url}/test/radar-form")
    page.locator('#radar [data-group="share"] button[name=add_risk]').click()
    page.wait_for_selector("#submitted")
    submitted = page.locator("#submitted").inner_text()
    assert submitted.startswith("Change share: ") and " | " in submitted
    assert "followed a config change" in submitted
    context.close()
