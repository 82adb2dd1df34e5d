"""A real server on a free port and Debian's Chromium driven by Playwright."""

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from kb import accounts, create_app, seed
from kb.db import get_session
from kb.hooks.worker import worker_for
from kb.search import index as search_index
from kb.search.service import service_for
from tests.conftest import PASSWORD

CHROMIUM = os.environ.get("KB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_app(sqlite_template, tmp_path):
    """The app on SQLite, served by a real HTTP server in a thread."""
    path = tmp_path / "hindsight.db"
    shutil.copy(sqlite_template, path)
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": f"sqlite:///{path}",
            "SECRET_KEY": "browser-test",
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app
    server.shutdown()
    thread.join(5)
    service_for(app).stop()  # the background sync thread holds index files
    worker_for(app).stop()  # the webhooks' thread
    search_index.for_app(app).close()
    app.extensions["kb_engine"].dispose()


@pytest.fixture
def demo(live_app):
    """The demo organisation in the served app (password: tests.conftest.PASSWORD)."""
    with live_app.app_context():
        session = get_session()
        seed.load_organisation(session, password=PASSWORD)
        report = seed.load_postmortems(session)
        session.commit()
    assert report.ok, report.problems
    return report


@pytest.fixture
def live_url(live_app):
    return live_app.config["BASE_URL"]


@pytest.fixture
def live_user(live_app):
    """Create a user in the served app's database."""

    def make(email, role="author", teams=()):
        with live_app.app_context():
            session = get_session()
            user = accounts.create_user(session, email, role, password=PASSWORD, teams=teams)
            session.commit()
            return user

    return make


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, base_url, email):
    """Sign in through the form, as a person would."""
    page.goto(f"{base_url}/sign-in")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/**")
