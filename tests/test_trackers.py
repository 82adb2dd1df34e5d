"""Action items follow their tracker: `kb trackers`, `kb actions sync` and "Create in tracker",
against local servers that speak the documented subset of the GitHub, GitLab and Jira APIs."""

import logging
from datetime import timedelta

import pytest
from sqlmodel import func, select

from kb import postmortems, revisions
from kb.document import to_document, validate
from kb.models import Change, TrackerIssue
from tests.fake_trackers import FakeTracker

GH_WEB = "https://github.example"
GL_WEB = "https://gitlab.example"
JIRA_WEB = "https://jira.example"
GH_TOKEN = "ghp_s3cret-github-token-value"
GL_TOKEN = "glpat-s3cret-gitlab-token-value"
JIRA_TOKEN = "ops@x.example:s3cret-jira-token-value"
TOKENS = (GH_TOKEN, GL_TOKEN, JIRA_TOKEN, "s3cret")


@pytest.fixture
def fakes(monkeypatch):
    """Running fake GitHub (under /api/v3, as GitHub Enterprise), GitLab and Jira servers."""
    monkeypatch.setenv("KB_TEST_GH", GH_TOKEN)
    monkeypatch.setenv("KB_TEST_GL", GL_TOKEN)
    monkeypatch.setenv("KB_TEST_JIRA", JIRA_TOKEN)
    servers = {
        "github": FakeTracker("github", token=GH_TOKEN, web_url=GH_WEB, prefix="/api/v3"),
        "gitlab": FakeTracker("gitlab", token=GL_TOKEN, web_url=GL_WEB, prefix="/api/v4"),
        "jira": FakeTracker("jira", token=JIRA_TOKEN, web_url=JIRA_WEB),
    }
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


def add_trackers(runner, fakes, **projects):
    for kind, web, env in (
        ("github", GH_WEB, "KB_TEST_GH"),
        ("gitlab", GL_WEB, "KB_TEST_GL"),
        ("jira", JIRA_WEB, "KB_TEST_JIRA"),
    ):
        args = ["trackers", "add", kind, web, "--api-url", fakes[kind].api_url]
        args += ["--token-env", env]
        if kind in projects:
            args += ["--project", projects[kind]]
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output


def item(title, url, status="open"):
    return {"title": title, "owner": "platform", "due": "2026-05-01", "status": status, "url": url}


def statuses(session, ref):
    session.expire_all()
    return [a.status for a in postmortems.get(session, ref, None).action_items]


def sync(runner):
    result = runner.invoke(args=["actions", "sync"])
    for token in TOKENS:
        assert token not in result.output
    return result


def test_github_closed_is_done_not_planned_is_wont_do(runner, fakes, make_postmortem, session):
    gh = fakes["github"]
    gh.issues[("acme", "shop", "1")] = {"state": "closed", "state_reason": "completed"}
    gh.issues[("acme", "shop", "2")] = {"state": "closed", "state_reason": "not_planned"}
    gh.issues[("acme", "shop", "3")] = {"state": "open", "state_reason": None}
    gh.issues[("acme", "shop", "4")] = {"state": "open", "state_reason": "reopened"}
    add_trackers(runner, fakes)
    make_postmortem(
        ref="INC-2026-001",
        action_items=[
            item("Stage pushes", f"{GH_WEB}/acme/shop/issues/1"),
            item("Drop the old flag", f"{GH_WEB}/acme/shop/issues/2#issuecomment-9"),
            item("Add a canary", f"{GH_WEB}/acme/shop/issues/3", "in-progress"),
            item("Reopened one", f"{GH_WEB}/acme/shop/issues/4", "done"),
            item("Not a tracker link", "https://wiki.example/acme/shop/issues/1"),
            item("No link", None),
        ],
    )
    before = postmortems.get(session, "INC-2026-001", None).version

    result = sync(runner)

    assert result.exit_code == 0, result.output
    assert statuses(session, "INC-2026-001") == [
        "done",
        "wont-do",
        "in-progress",  # GitHub's "open" does not say whether work started: left alone
        "open",  # reopened in the tracker
        "open",
        "open",
    ]
    assert "INC-2026-001 action 1 'Stage pushes': open -> done (GitHub says closed)" in (
        result.output
    )
    pm = postmortems.get(session, "INC-2026-001", None)
    assert pm.version == before + 1  # one revision for the whole run's changes
    note = revisions.latest(session, pm).note
    assert (
        "status from GitHub: closed" in note and "status from GitHub: closed (not planned)" in note
    )
    assert session.exec(select(func.count()).select_from(Change)).one() == 2  # search follows
    got = [(m, path, h.get("authorization")) for m, path, h, _ in gh.requests]
    assert ("GET", "/api/v3/repos/acme/shop/issues/1", f"Bearer {GH_TOKEN}") in got
    assert len(got) == 4  # only the tracker's own links are asked for

    again = sync(runner)
    assert again.exit_code == 0 and "0 action items changed" in again.output
    assert postmortems.get(session, "INC-2026-001", None).version == before + 1
    assert len(session.exec(select(TrackerIssue)).all()) == 4

    # An item whose link is removed: its issue's reading is forgotten at the next run.
    doc = to_document(postmortems.get(session, "INC-2026-001", None))
    doc["action_items"][0]["url"] = None
    postmortems.save_document(session, validate(doc), None, note="unlinked")
    session.commit()
    sync(runner)
    urls = {r.url for r in session.exec(select(TrackerIssue)).all()}
    assert len(urls) == 3 and f"{GH_WEB}/acme/shop/issues/1" not in urls


def test_gitlab_and_jira_states(runner, fakes, make_postmortem, session):
    gl, jira = fakes["gitlab"], fakes["jira"]
    gl.issues[("platform/infra/deploys", "12")] = {"iid": 12, "state": "closed"}
    gl.issues[("platform/infra/deploys", "13")] = {"iid": 13, "state": "opened"}

    def jira_issue(name, category, resolution=None):
        status = {"name": name, "statusCategory": {"key": category}}
        return {"fields": {"status": status, "resolution": resolution}}

    jira.issues[("OPS-1",)] = jira_issue("To Do", "new")
    jira.issues[("OPS-2",)] = jira_issue("In Review", "indeterminate")
    jira.issues[("OPS-3",)] = jira_issue("Done", "done", {"name": "Done"})
    jira.issues[("OPS-4",)] = jira_issue("Closed", "done", {"name": "Won\u2019t Do"})
    jira.issues[("OPS-5",)] = jira_issue("Closed", "done", {"name": "Won't Fix"})
    add_trackers(runner, fakes)
    make_postmortem(
        ref="INC-2026-002",
        action_items=[
            item("GitLab closed", f"{GL_WEB}/platform/infra/deploys/-/issues/12"),
            item("GitLab open", f"{GL_WEB}/platform/infra/deploys/-/issues/13", "done"),
            item("Jira to do", f"{JIRA_WEB}/browse/OPS-1", "in-progress"),
            item("Jira in review", f"{JIRA_WEB}/browse/OPS-2"),
            item("Jira done", f"{JIRA_WEB}/browse/OPS-3"),
            item("Jira won't do", f"{JIRA_WEB}/browse/OPS-4"),
            item("Jira won't fix", f"{JIRA_WEB}/browse/OPS-5"),
        ],
    )

    result = sync(runner)

    assert result.exit_code == 0, result.output
    assert statuses(session, "INC-2026-002") == [
        "done",
        "open",
        "open",
        "in-progress",
        "done",
        "wont-do",
        "wont-do",
    ]
    paths = {path for _, path, _, _ in gl.requests}
    assert "/api/v4/projects/platform%2Finfra%2Fdeploys/issues/12" in paths
    assert all(h.get("private-token") == GL_TOKEN for _, _, h, _ in gl.requests)
    assert "/rest/api/2/issue/OPS-1?fields=status,resolution" in {p for _, p, _, _ in jira.requests}
    assert all(h["authorization"].startswith("Basic ") for _, _, h, _ in jira.requests)
    readings = {r.url: r for r in session.exec(select(TrackerIssue)).all()}
    assert readings[f"{JIRA_WEB}/browse/OPS-4"].said == "Closed (Won\u2019t Do)"
    assert readings[f"{JIRA_WEB}/browse/OPS-2"].read_at is not None


def test_a_failing_tracker_leaves_items_unchanged_and_is_reported(
    app, runner, fakes, make_postmortem, session, monkeypatch, caplog
):
    gh, gl, jira = fakes["github"], fakes["gitlab"], fakes["jira"]
    gh.issues[("acme", "shop", "1")] = {"state": "closed"}
    gl.issues[("team/app", "1")] = {"state": "closed"}
    jira.issues[("OPS-1",)] = {"fields": {"status": {"name": "Done"}}}  # no statusCategory
    add_trackers(runner, fakes)
    make_postmortem(
        ref="INC-2026-003",
        action_items=[
            item("GitHub", f"{GH_WEB}/acme/shop/issues/1"),
            item("GitLab", f"{GL_WEB}/team/app/-/issues/1"),
            item("Jira", f"{JIRA_WEB}/browse/OPS-1"),
            item("Missing issue", f"{GL_WEB}/team/app/-/issues/2"),
        ],
    )
    gh.broken = 502
    caplog.set_level(logging.INFO)

    result = sync(runner)

    assert result.exit_code == 1
    assert statuses(session, "INC-2026-003") == ["open", "done", "open", "open"]
    assert f"{GH_WEB} failed: GitHub answered HTTP 502" in result.output
    assert "Jira's answer is not an issue" in result.output
    assert "GitLab answered HTTP 404" in result.output
    for token in TOKENS:
        assert token not in caplog.text
    assert "GitHub answered HTTP 502" in caplog.text

    # Not JSON, a token that is not set, a tracker out of reach, a wrong token: the same.
    gh.broken = "not-json"
    monkeypatch.delenv("KB_TEST_GL")
    jira.token = "someone-else:other-token"
    result = sync(runner)
    assert result.exit_code == 1
    assert "GitHub's answer is not JSON" in result.output
    assert "the environment variable KB_TEST_GL is not set" in result.output
    assert "Jira answered HTTP 401" in result.output
    assert statuses(session, "INC-2026-003") == ["open", "done", "open", "open"]
    gh.stop()
    result = sync(runner)
    assert "GitHub could not be reached" in result.output and result.exit_code == 1
    assert statuses(session, "INC-2026-003") == ["open", "done", "open", "open"]
    for token in TOKENS:
        assert token not in caplog.text


def test_a_slow_tracker_is_given_up_after_a_few_timeouts(
    app, runner, fakes, make_postmortem, session
):
    gh = fakes["github"]
    for n in range(1, 6):
        gh.issues[("acme", "shop", str(n))] = {"state": "closed"}
    add_trackers(runner, fakes)
    make_postmortem(
        ref="INC-2026-004",
        action_items=[item(f"Item {n}", f"{GH_WEB}/acme/shop/issues/{n}") for n in range(1, 6)],
    )
    app.config["TRACKER_TIMEOUT"] = 0.3
    gh.broken, gh.slow_seconds = "slow", 1.0

    result = sync(runner)

    assert result.exit_code == 1
    assert result.output.count("could not be reached") == 1  # one failure, three issues
    assert "(3 issues left as they were)" in result.output
    assert "not asked: GitHub failed 3 times in this run (2 issues left" in result.output
    assert len(gh.requests) == 3
    assert statuses(session, "INC-2026-004") == ["open"] * 5


def test_the_page_shows_what_the_tracker_said_and_when(
    runner, fakes, make_postmortem, make_user, login, client, session
):
    fakes["github"].issues[("acme", "shop", "1")] = {"state": "closed"}
    add_trackers(runner, fakes)
    make_postmortem(
        ref="INC-2026-005",
        action_items=[
            item("Stage pushes", f"{GH_WEB}/acme/shop/issues/1"),
            item("Gone", f"{GH_WEB}/acme/shop/issues/2"),
        ],
    )
    sync(runner)
    login(make_user("reader@x.example"))
    page = client.get("/postmortems/INC-2026-005").get_data(as_text=True)
    assert "GitHub: closed" in page and "read just now" in page
    assert "GitHub could not be read just now: GitHub answered HTTP 404 Not Found" in page
    assert "Create in" not in page  # readers open no issues
    reading = session.exec(select(TrackerIssue).where(TrackerIssue.url.endswith("/1"))).one()
    reading.read_at -= timedelta(hours=3, minutes=5)
    session.commit()
    page = client.get("/postmortems/INC-2026-005").get_data(as_text=True)
    assert "GitHub: closed" in page and "read 3 h ago" in page
    actions = client.get("/actions").get_data(as_text=True)
    assert "GitHub could not be read just now" in actions
    assert "GitHub: closed" in client.get("/actions?view=done").get_data(as_text=True)


def test_create_in_tracker(
    runner, fakes, make_postmortem, make_user, login, client, csrf_token, session
):
    add_trackers(runner, fakes, github="acme/shop", jira="OPS")
    pm = make_postmortem(
        ref="INC-2026-006",
        status="draft",
        published_at=None,
        title="Checkout errors",
        action_items=[
            item("Stage pushes", None),
            item("Linked", f"{GH_WEB}/acme/shop/issues/9"),
            item("Add a canary", None),
        ],
    )
    author = make_user("author@x.example", role="author", teams=["payments"])
    login(author)
    page = client.get("/postmortems/INC-2026-006").get_data(as_text=True)
    assert "Create in tracker" in page and ">GitHub acme/shop</option>" in page
    gh = fakes["github"]
    token = csrf_token()
    github_id = 1

    response = client.post(
        "/actions/INC-2026-006/0/issue",
        data={"tracker": github_id, "version": pm.version, "csrf_token": token},
    )

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/postmortems/INC-2026-006#action_items")
    (method, path, headers, body) = gh.requests[-1]
    assert (method, path) == ("POST", "/api/v3/repos/acme/shop/issues")
    assert headers["authorization"] == f"Bearer {GH_TOKEN}"
    assert body["title"] == "Stage pushes"
    assert "INC-2026-006: Checkout errors" in body["body"]
    assert "http://hindsight.test/postmortems/INC-2026-006" in body["body"]
    session.expire_all()
    pm = postmortems.get(session, "INC-2026-006", None)
    assert pm.action_items[0].url == f"{GH_WEB}/acme/shop/issues/100"
    assert "issue opened in GitHub" in revisions.latest(session, pm).note
    page = client.get("/postmortems/INC-2026-006").get_data(as_text=True)
    assert "now links to https://github.example/acme/shop/issues/100" in page

    # Refused, and nothing opened: an item with a link, a stale version, no such item, a
    # tracker without a project, no tracker at all.
    opened = len(gh.requests)
    refusals = (
        (1, {"tracker": github_id, "version": pm.version}, "already links to"),
        (2, {"tracker": github_id, "version": pm.version - 1}, "was changed by someone else"),
        (5, {"tracker": github_id, "version": pm.version}, "has no action item 6"),
        (2, {"tracker": 2, "version": pm.version}, "Choose a tracker with a project"),
        (2, {"tracker": "x", "version": pm.version}, "Choose a tracker with a project"),
    )
    for position, data, message in refusals:
        pm_item = f"/actions/INC-2026-006/{position}/issue"
        assert client.post(pm_item, data={**data, "csrf_token": token}).status_code == 302
        assert message in client.get("/postmortems/INC-2026-006").get_data(as_text=True)
    assert client.post("/actions/INC-2026-006/2/issue", data={"tracker": 1}).status_code == 400
    assert len(gh.requests) == opened
    assert postmortems.get(session, "INC-2026-006", None).version == pm.version


def test_create_in_jira_keeps_a_restricted_title_in_hindsight(
    runner, fakes, make_postmortem, make_user, login, client, csrf_token, session
):
    add_trackers(runner, fakes, jira="OPS")
    make_postmortem(
        ref="INC-2026-007",
        status="draft",
        published_at=None,
        visibility="restricted",
        title="Secret vendor outage",
        action_items=[item("Rotate keys", None)],
    )
    login(make_user("author@x.example", role="author", teams=["payments"]))
    pm = postmortems.get(session, "INC-2026-007", None)
    client.post(
        "/actions/INC-2026-007/0/issue",
        data={"tracker": 3, "version": pm.version, "csrf_token": csrf_token()},
    )
    (method, path, _, body) = fakes["jira"].requests[-1]
    assert (method, path) == ("POST", "/rest/api/2/issue")
    fields = body["fields"]
    assert fields["project"] == {"key": "OPS"} and fields["issuetype"] == {"name": "Task"}
    assert fields["summary"] == "Rotate keys"
    assert "Secret vendor outage" not in fields["description"]
    assert "INC-2026-007" in fields["description"]
    session.expire_all()
    assert postmortems.get(session, "INC-2026-007", None).action_items[0].url == (
        f"{JIRA_WEB}/browse/OPS-40"
    )


def test_only_authors_and_admins_create_issues(
    runner, fakes, make_postmortem, make_user, login, client, csrf_token, session
):
    add_trackers(runner, fakes, github="acme/shop")
    pm = make_postmortem(ref="INC-2026-008", action_items=[item("Stage pushes", None)])
    login(make_user("member@x.example", role="reader", teams=["payments"]))
    client.post(
        "/actions/INC-2026-008/0/issue",
        data={"tracker": 1, "version": pm.version, "csrf_token": csrf_token()},
    )
    page = client.get("/postmortems/INC-2026-008").get_data(as_text=True)
    assert "Only its authors and admins can open issues" in page
    assert fakes["github"].requests == []
    restricted = make_postmortem(
        ref="INC-2026-009", visibility="restricted", teams=["security"], action_items=[]
    )
    assert (
        client.post(
            "/actions/INC-2026-009/0/issue",
            data={"tracker": 1, "version": restricted.version, "csrf_token": csrf_token()},
        ).status_code
        == 404
    )


def test_a_tracker_that_fails_to_create_changes_nothing(
    runner, fakes, make_postmortem, make_user, login, client, csrf_token, session
):
    add_trackers(runner, fakes, gitlab="platform/infra")
    pm = make_postmortem(
        ref="INC-2026-010",
        status="draft",
        published_at=None,
        action_items=[item("Stage pushes", None)],
    )
    login(make_user("author@x.example", role="author", teams=["payments"]))
    fakes["gitlab"].broken = 503
    client.post(
        "/actions/INC-2026-010/0/issue",
        data={"tracker": 2, "version": pm.version, "csrf_token": csrf_token()},
    )
    page = client.get("/postmortems/INC-2026-010").get_data(as_text=True)
    assert "GitLab answered HTTP 503" in page
    assert GL_TOKEN not in page
    session.expire_all()
    again = postmortems.get(session, "INC-2026-010", None)
    assert again.version == pm.version and again.action_items[0].url is None

    fakes["gitlab"].broken = None
    client.post(
        "/actions/INC-2026-010/0/issue",
        data={"tracker": 2, "version": pm.version, "csrf_token": csrf_token()},
    )
    (method, path, _, body) = fakes["gitlab"].requests[-1]
    assert (method, path) == ("POST", "/api/v4/projects/platform%2Finfra/issues")
    assert body["title"] == "Stage pushes" and "INC-2026-010" in body["description"]
    session.expire_all()
    assert postmortems.get(session, "INC-2026-010", None).action_items[0].url == (
        f"{GL_WEB}/platform/infra/-/issues/7"
    )


def test_trackers_add_list_remove(runner, monkeypatch):
    ok = runner.invoke(
        args=[
            "trackers",
            "add",
            "github",
            "https://github.com/",
            "--api-url",
            "https://api.github.com",
            "--token-env",
            "GITHUB_TOKEN",
            "--project",
            "acme/shop",
        ]
    )
    assert ok.exit_code == 0 and "Added tracker 1: GitHub https://github.com." in ok.output
    monkeypatch.setenv("GITHUB_TOKEN", GH_TOKEN)
    listed = runner.invoke(args=["trackers", "list"])
    assert "https://github.com " in listed.output and "token from $GITHUB_TOKEN" in listed.output
    assert GH_TOKEN not in listed.output

    refusals = [
        (["bitbucket", "https://b.example", "--api-url", "https://b.example"], "bitbucket"),
        (["github", "github.com", "--api-url", "https://api.github.com"], "http:// or https://"),
        (["github", "https://g.example", "--api-url", "ftp://g.example"], "--api-url must be"),
        (["github", "https://g.example?x=1", "--api-url", "https://g.example"], "query"),
        (["github", "https://u:p@g.example", "--api-url", "https://g.example"], "credentials"),
        (["github", "https://github.com", "--api-url", "https://x.example"], "already follows"),
        (["github", "https://g.example"], "--api-url"),
        (
            [
                "github",
                "https://g.example",
                "--api-url",
                "https://g.example",
                "--token-env",
                "ghp_abc-123.456",
            ],
            "NAME of an environment variable",
        ),
        (
            ["github", "https://g.example", "--api-url", "https://g.example", "--project", "x"],
            "owner/repository",
        ),
        (
            ["jira", "https://j.example", "--api-url", "https://j.example", "--project", "ops"],
            "project key",
        ),
        (
            [
                "gitlab",
                "https://l.example",
                "--api-url",
                "https://l.example",
                "--project",
                "a/../b",
            ],
            "group/project",
        ),
    ]
    for args, message in refusals:
        result = runner.invoke(args=["trackers", "add", *args])
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
        assert "ghp_abc-123.456" not in runner.invoke(args=["trackers", "list"]).output
    assert runner.invoke(args=["trackers", "list"]).output.count("\n") == 1

    missing = runner.invoke(args=["trackers", "remove", "7"])
    assert missing.exit_code == 1 and "there is no tracker 7" in missing.output
    assert runner.invoke(args=["trackers", "remove", "x"]).exit_code == 2
    removed = runner.invoke(args=["trackers", "remove", "1"])
    assert removed.exit_code == 0 and "Removed tracker 1" in removed.output
    assert "No trackers" in runner.invoke(args=["trackers", "list"]).output


def test_links_that_only_look_like_a_trackers(runner, fakes, make_postmortem, session):
    add_trackers(runner, fakes)
    fakes["github"].issues[("acme", "shop", "1")] = {"state": "closed"}
    make_postmortem(
        ref="INC-2026-011",
        action_items=[
            item("Other host", "https://github.example.evil/acme/shop/issues/1"),
            item("Traversal", f"{GH_WEB}/acme/../../admin/issues/1"),
            item("Pull request", f"{GH_WEB}/acme/shop/pull/1"),
            item("Jira lower case", f"{JIRA_WEB}/browse/ops-1"),
            item("GitLab on GitHub", f"{GH_WEB}/acme/shop/-/issues/1"),
        ],
    )
    result = sync(runner)
    assert result.exit_code == 0 and "Read 0 issues" in result.output
    assert all(not server.requests for server in fakes.values())


def test_a_save_made_while_syncing_is_kept_and_the_status_still_follows(
    app, runner, fakes, make_postmortem, session, monkeypatch
):
    """Someone saves the postmortem between the sync's reading and its write: the sync's
    conditional UPDATE finds no row, it reads their version and saves on top of it."""
    from sqlmodel import Session

    from kb.trackers import sync as tracker_sync

    fakes["github"].issues[("acme", "shop", "1")] = {"state": "closed"}
    add_trackers(runner, fakes)
    make_postmortem(
        ref="INC-2026-012", action_items=[item("Stage pushes", f"{GH_WEB}/acme/shop/issues/1")]
    )
    calls = []

    def validate_after_someone_saved(doc):
        if not calls:
            with Session(app.extensions["kb_engine"]) as other:
                theirs = postmortems.get(other, "INC-2026-012", None)
                edited = {**to_document(theirs), "summary": "Edited meanwhile."}
                postmortems.save_document(other, validate(edited), None, note="their edit")
                other.commit()
        calls.append(doc)
        return validate(doc)

    monkeypatch.setattr(tracker_sync, "validate", validate_after_someone_saved)
    result = sync(runner)

    assert result.exit_code == 0, result.output
    assert len(calls) == 2  # the first save was a conflict; the second read their version
    session.expire_all()
    pm = postmortems.get(session, "INC-2026-012", None)
    assert pm.summary == "Edited meanwhile." and pm.action_items[0].status == "done"
    notes = [r.note for r in revisions.history(session, pm)]
    assert any("their edit" in n for n in notes)
    assert any("status from GitHub: closed" in n for n in notes)


def test_missing_issues_do_not_stop_the_others_and_echoed_tokens_are_hidden(
    runner, fakes, make_postmortem, session, caplog
):
    gh, jira = fakes["github"], fakes["jira"]
    gh.issues[("acme", "shop", "9")] = {"state": "closed"}
    add_trackers(runner, fakes)
    make_postmortem(
        ref="INC-2026-013",
        action_items=[
            *(item(f"Gone {n}", f"{GH_WEB}/acme/shop/issues/{n}") for n in range(1, 8)),
            item("Still there", f"{GH_WEB}/acme/shop/issues/9"),
            item("Jira", f"{JIRA_WEB}/browse/OPS-1"),
        ],
    )
    jira.broken = "echo"
    caplog.set_level(logging.INFO)

    result = sync(runner)

    assert result.exit_code == 1
    assert statuses(session, "INC-2026-013")[7] == "done"  # seven 404s did not stop it
    assert "GitHub answered HTTP 404 Not Found (7 issues left as they were)" in result.output
    assert f"  {GH_WEB}/acme/shop/issues/1\n" in result.output and "and 2 more" in result.output
    assert "Jira answered HTTP 500 Bad ***" in result.output
    for token in TOKENS:
        assert token not in caplog.text
    session.expire_all()
    stored = session.exec(select(TrackerIssue).where(TrackerIssue.url.contains("OPS-1"))).one()
    assert stored.error == "Jira answered HTTP 500 Bad ***" and stored.read_at is None


def test_the_timeout_setting_is_checked(tmp_path):
    from kb import create_app

    for bad in (0, -1, 121):
        with pytest.raises(ValueError, match="KB_TRACKER_TIMEOUT"):
            create_app({"INSTANCE_PATH": str(tmp_path), "TRACKER_TIMEOUT": bad})


def test_old_gitlab_links_and_subgroups_are_read(runner, fakes, make_postmortem, session):
    fakes["gitlab"].issues[("a/b/c", "5")] = {"state": "closed"}
    add_trackers(runner, fakes)
    make_postmortem(ref="INC-2026-014", action_items=[item("Old link", f"{GL_WEB}/a/b/c/issues/5")])
    assert sync(runner).exit_code == 0
    assert statuses(session, "INC-2026-014") == ["done"]


def test_an_issue_opened_at_an_unexpected_address_is_named_not_stored(
    runner, fakes, make_postmortem, make_user, login, client, csrf_token, session
):
    gh = fakes["github"]
    args = ["trackers", "add", "github", "https://github.other", "--api-url", gh.api_url]
    assert (
        runner.invoke(args=[*args, "--token-env", "KB_TEST_GH", "--project", "a/b"]).exit_code == 0
    )
    pm = make_postmortem(
        ref="INC-2026-015", status="draft", published_at=None, action_items=[item("X", None)]
    )
    login(make_user("author@x.example", role="author", teams=["payments"]))
    client.post(
        "/actions/INC-2026-015/0/issue",
        data={"tracker": 1, "version": pm.version, "csrf_token": csrf_token()},
    )
    page = client.get("/postmortems/INC-2026-015").get_data(as_text=True)
    assert "opened the issue at &#39;https://github.example/a/b/issues/100&#39;" in page
    assert "link it by hand" in page
    session.expire_all()
    assert postmortems.get(session, "INC-2026-015", None).version == pm.version
