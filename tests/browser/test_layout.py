"""Every page at a phone's, a tablet's and a desktop's width, as Chromium lays it out.

No page scrolls sideways, every link of the header can be seen and clicked (opening its menu
first where it sits in one) and reached by keyboard, checkbox and radio rows keep the box
beside its label, and axe-core finds no serious or critical accessibility problem.
One server and one browser serve the whole module; each width has one signed-in tab.
"""

import shutil
import threading

import pytest
from sqlmodel import select
from werkzeug.serving import make_server

from kb import accounts, create_app, editing, postmortems, seed
from kb.db import get_session
from kb.document import to_document
from kb.insights import themes
from kb.models import Theme
from kb.search import index as search_index
from kb.search.service import service_for
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

WIDTHS = (390, 768, 1280)
ADMIN = "admin@brightcart.example"
EDITED = "INC-2025-001"  # given a second revision, for the comparison and the conflict
MONTH = "2026-10"  # a month with published postmortems, for the digest preview
IMPORTED = (
    "a-rather-long-file-name-of-an-exported-confluence-page-about-the-outage.md",
    b"# Postmortem: Login failures\n\n"
    b"## What happened to the sign-in service of the mobile apps on the morning of 2 May\n"
    b"Sign-in failed.\n\n## Timeline\n- 10:02 UTC - Errors start\n",
)  # an uploaded Markdown file with a long name and a long heading, for the import check
NAV = ("Postmortems", "Action items", "Themes", "Figures", "Digest")
ACCOUNT = ("Audit log", "Webhooks", "Sign out")  # the admin's account menu

PAGES = {
    "list": "/",
    "postmortem": f"/postmortems/{EDITED}",
    "editor": f"/postmortems/{EDITED}/edit",
    "new": "/postmortems/new",
    "search": "/search?q=certificate",
    "themes": "/themes",
    "theme": "/themes/{theme}",
    "figures": "/figures",
    "actions": "/actions",
    "digest": "/digest/",
    "digest-preview": f"/digest/{MONTH}",
    "revisions": f"/postmortems/{EDITED}/revisions",
    "compare": f"/postmortems/{EDITED}/revisions/compare?a=1&b=2",
    "conflict": None,  # a stale save of the editor's form, see open_page
    "audit": "/admin/audit",
    "webhooks": "/admin/hooks",
    "settings": "/digest/settings",
    "account-settings": "/settings",
    "password": "/account/password",
    "sign-in": "/sign-in",
    "import": "/import",
    "import-preview": "/import",
}


def add_hooks(session):
    """Two webhooks, one with a long URL, and a delivery that failed once (nothing listens)."""
    import socket

    from kb.hooks import delivery, events, registry

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    registry.add_hook(session, f"http://127.0.0.1:{port}/hooks/hindsight", secret="s" * 32)
    registry.add_hook(
        session,
        "https://chat.example.com/hooks/incoming/3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e",
        events=["postmortem.published"],
        format="slack",
        receives_restricted=True,
        description="The incidents channel",
    )
    session.commit()
    events.queue(session, "digest.sent", {"digest": {"month": MONTH, "sent": 3}})
    session.commit()
    delivery.deliver_due(session, timeout=2)


@pytest.fixture(scope="module")
def site(sqlite_template, tmp_path_factory):
    """The demo organisation served on a free port, its themes built, one postmortem edited."""
    folder = tmp_path_factory.mktemp("layout")
    shutil.copy(sqlite_template, folder / "hindsight.db")
    app = create_app(
        {
            "INSTANCE_PATH": str(folder / "instance"),
            "DATABASE_URL": f"sqlite:///{folder / 'hindsight.db'}",
            "SECRET_KEY": "browser-test",
            "HOOKS_WORKER": "off",  # the hook below is tried once, by hand
        }
    )
    with app.app_context():
        session = get_session()
        seed.load_organisation(session, password=PASSWORD)
        add_hooks(session)
        assert seed.load_postmortems(session).ok
        themes.rebuild(session)
        admin = accounts.get_user(session, ADMIN)
        pm = postmortems.get(session, EDITED, admin)
        doc = to_document(pm)
        # A long URL and a long word must wrap on a phone rather than widen the page.
        doc["summary"] += (
            " The second revision adds https://status.brightcart.example/incidents/2025-06-11/"
            "search-synonyms-dictionary-rollback-and-the-zero-results-timeline?view=full and "
            "Donaudampfschifffahrtsgesellschaftskapitaensmuetzenabzeichenhersteller."
        )
        editing.update(
            session, pm, doc, admin, base_version=pm.version, amendment="linked the status page"
        )
        session.commit()
        theme = session.exec(select(Theme)).first().id
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": app.config["BASE_URL"], "theme": theme}
    server.shutdown()
    thread.join(5)
    service_for(app).stop()
    search_index.for_app(app).close()
    app.extensions["kb_engine"].dispose()


@pytest.fixture(scope="module")
def tabs(site, browser):
    """One tab per width, signed in as the admin (who has every header link), made on demand."""
    contexts, pages = [], {}

    def tab(width, signed_in=True, scheme="light"):
        key = (width, signed_in, scheme)
        if key not in pages:
            size = {"width": width, "height": 900}
            context = browser.new_context(viewport=size, color_scheme=scheme)
            contexts.append(context)
            pages[key] = context.new_page()
            if signed_in:
                sign_in(pages[key], site["url"], ADMIN)
        return pages[key]

    yield tab
    for context in contexts:
        context.close()


def open_page(page, site, name):
    """Go to the named page as a person would get there."""
    url = site["url"]
    if name == "import-preview":  # the check of an uploaded file, before it is imported
        page.goto(url + PAGES[name])
        page.set_input_files(
            "#f-files",
            files=[{"name": IMPORTED[0], "mimeType": "text/markdown", "buffer": IMPORTED[1]}],
        )
        with page.expect_navigation():
            page.get_by_role("button", name="Check the files").click()
        return
    if name != "conflict":
        page.goto(url + PAGES[name].format(theme=site["theme"]))
        return
    # Another person saved since this form was loaded: its old version makes the save a
    # conflict, and the server answers with the page that lets the person choose.
    page.goto(f"{url}/postmortems/{EDITED}/edit")
    with page.expect_navigation():
        page.evaluate(
            """() => {
                const form = document.getElementById("editor");
                form.querySelector('[name="version"]').value = "1";
                document.getElementById("f-summary").value = "A summary from a stale page.";
                document.getElementById("f-note").value = "reworded the summary";
                form.submit();
            }"""
        )
    assert page.locator(".conflict").count() >= 1


def sideways_overflow(page):
    return page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth, "
        "[...document.querySelectorAll('body *')].filter(e => "
        "e.getBoundingClientRect().right > window.innerWidth + 0.5).slice(-5)"
        ".map(e => e.tagName + '.' + e.className)]"
    )


def header_controls(page):
    """(name, locator) of every link and button of the header, after opening its menus."""
    header = page.locator("header.site-header")
    found = []
    for link in header.locator("a, button").all():
        if link.locator("xpath=ancestor::details").count() == 0:
            found.append(link)
    for menu in header.locator("details.header-menu").all():
        if not menu.is_visible():
            continue
        summary = menu.locator("summary")
        summary.click()
        assert menu.get_attribute("open") is not None
        for link in menu.locator(".menu-panel").locator("a, button").all():
            found.append(link)
            yield link.inner_text().strip(), link
        summary.click()  # closed again, so that it hides nothing of the next one
    for link in found:
        yield (link.inner_text().strip() or link.get_attribute("aria-label")), link


CROWDING = """() => {
    const items = [...document.querySelectorAll(
        'header .brand, header .main-nav a, header input:not([type=hidden]), header summary')]
        .filter(e => e.checkVisibility());
    const name = e => (e.innerText || e.getAttribute('aria-label') || e.name).trim();
    const boxes = items.map(e => [e, e.getBoundingClientRect()]);
    const problems = [];
    for (const [e, r] of boxes) {
        const p = e.parentElement.getBoundingClientRect();
        if (r.left < p.left - 0.5 || r.right > p.right + 0.5) {
            problems.push(`${name(e)} sticks out of its ${e.parentElement.className}`);
        }
    }
    boxes.forEach(([a, r], i) => boxes.slice(i + 1).forEach(([b, q]) => {
        if (r.left < q.right && q.left < r.right && r.top < q.bottom && q.top < r.bottom) {
            problems.push(`${name(a)} overlaps ${name(b)}`);
        }
    }));
    return problems;
}"""


def check_header(page, signed_in):
    assert page.evaluate(CROWDING) == []
    seen = []
    for name, control in header_controls(page):
        if not control.is_visible():
            continue  # the copy of the links that this width does not show (display: none)
        # trial=True runs Playwright's checks for a click (visible, stable, enabled, not
        # covered by another element at its centre) without clicking.
        control.click(trial=True, timeout=3000)
        box = control.bounding_box()
        width = page.viewport_size["width"]
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{name} is off screen"
        seen.append(name)
    expected = {*NAV, *ACCOUNT, "Hindsight"} if signed_in else {"Hindsight"}
    assert expected <= set(seen), f"header controls reachable: {seen}"


def serious_axe_violations(page):
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_fits_and_keeps_its_header_usable(site, tabs, name, width):
    signed_in = name != "sign-in"
    page = tabs(width, signed_in)
    open_page(page, site, name)
    assert page.locator("main h1").count() >= 1, f"{name} did not render: {page.url}"
    if name == "search":
        assert page.locator(".hit").count() >= 1
    scroll_width, inner_width, culprits = sideways_overflow(page)
    assert scroll_width <= inner_width, f"{name} is {scroll_width} px wide: {culprits}"
    check_header(page, signed_in)
    assert serious_axe_violations(page) == []


@pytest.mark.parametrize("name", list(PAGES))
def test_the_dark_theme_is_as_readable(site, tabs, name):
    """The dark colour scheme (prefers-color-scheme) passes axe-core too, contrast above all."""
    page = tabs(1280, name != "sign-in", "dark")
    open_page(page, site, name)
    assert serious_axe_violations(page) == []


# --- checkbox and radio rows ----------------------------------------------------------------

BOX_AND_LABEL = """() => [...document.querySelectorAll(
        'main label input[type=checkbox], main label input[type=radio]')]
    .filter(input => input.checkVisibility())
    .map(input => {
        const label = input.closest('label');
        const text = [...label.childNodes].find(n => n.nodeType === 3 && n.textContent.trim());
        const range = document.createRange();
        range.selectNodeContents(text);
        const word = range.getClientRects()[0];
        const box = input.getBoundingClientRect();
        return {text: text.textContent.trim(), box: [box.left, box.right, box.top, box.bottom],
                word: [word.left, word.right, word.top, word.bottom]};
    })"""


@pytest.mark.parametrize("width", (390, 1280))
@pytest.mark.parametrize(
    "path",
    ["/postmortems/new", "/postmortems/INC-2026-021", "/digest/settings", "/admin/hooks"],
    ids=["kind-radios", "reviewer-checkboxes", "digest-radios", "webhook-form"],
)
def test_checkbox_and_radio_rows_keep_box_and_label_on_one_line(site, tabs, path, width):
    page = tabs(width)
    page.goto(site["url"] + path)
    rows = page.evaluate(BOX_AND_LABEL)
    assert len(rows) >= 2, f"no checkbox or radio rows on {path}"
    for row in rows:
        left, right, top, bottom = row["box"]
        word_left, _, word_top, word_bottom = row["word"]
        middle, word_middle = (top + bottom) / 2, (word_top + word_bottom) / 2
        assert abs(middle - word_middle) <= 6, f"{row['text']}: box and label on two lines"
        assert 0 <= word_left - right <= 16, f"{row['text']}: the label is not beside its box"


# --- keyboard -------------------------------------------------------------------------------


@pytest.mark.parametrize("width", (390, 1280, 1440))
def test_the_header_is_reachable_by_keyboard(site, browser, width):
    """Tab through the header, opening each menu with Enter: every link gets focus, visibly."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    sign_in(page, site["url"], ADMIN)
    page.goto(site["url"] + "/figures")
    reached = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement;
                if (!e.closest('header')) return null;
                const r = e.getBoundingClientRect();
                const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                const text = e.innerText || e.getAttribute('aria-label') || e.name;
                return {tag: e.tagName, text: text.trim(),
                        open: e.tagName === 'SUMMARY' ? e.parentElement.open : null,
                        shown: r.width > 0 && r.left >= 0 && r.right <= window.innerWidth
                               && (hit === e || e.contains(hit))}; }"""
        )
        if focused is None:
            if reached:
                break  # out of the header again
            continue  # the skip link comes first
        assert focused["shown"], f"{focused['text']} takes focus but cannot be seen at {width}"
        reached.append(focused["text"])
        if focused["tag"] == "SUMMARY" and not focused["open"]:
            page.keyboard.press("Enter")
    context.close()
    for name in (*NAV, *ACCOUNT):
        assert name in reached, f"{name} not reached by keyboard at {width} px: {reached}"


def test_the_menus_work_without_javascript(site, browser):
    """A <details> menu opens and its links work with script turned off."""
    context = browser.new_context(viewport={"width": 390, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, site["url"], ADMIN)
    page.goto(site["url"] + "/")
    figures = page.locator(".site-menu").get_by_role("link", name="Figures")
    assert not figures.is_visible()
    page.locator(".site-menu summary").click()
    figures.click()
    page.wait_for_url("**/figures")
    page.locator(".account-menu summary").click()
    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url("**/admin/audit")
    context.close()


def test_escape_closes_a_menu_and_gives_focus_back(site, tabs):
    """With script, Escape closes an open menu; opening one closes the other."""
    page = tabs(390)
    page.goto(site["url"] + "/")
    account, menu = page.locator(".account-menu"), page.locator(".site-menu")
    account.locator("summary").click()
    menu.locator("summary").click()
    assert menu.get_attribute("open") is not None and account.get_attribute("open") is None
    page.keyboard.press("Tab")  # onto the first link of the open menu
    page.keyboard.press("Escape")
    assert menu.get_attribute("open") is None
    assert page.evaluate("document.activeElement.closest('.site-menu') !== null")
