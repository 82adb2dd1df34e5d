"""The list and detail pages."""

from tests.html_checks import dangerous_markup


def test_anonymous_visitors_are_sent_to_sign_in(client, make_postmortem):
    make_postmortem(ref="INC-2026-001")
    for path in ("/", "/postmortems/INC-2026-001", "/admin/audit"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/sign-in?next=")
    page = client.get("/sign-in").get_data(as_text=True)
    assert "Checkout errors" not in page


def test_the_list_shows_newest_first_with_facts(client, login, make_user, make_postmortem):
    make_postmortem(
        ref="INC-2026-001",
        title="Older incident",
        started_at="2026-01-02T09:00:00Z",
        detected_at=None,
        mitigated_at=None,
        resolved_at=None,
    )
    make_postmortem(
        ref="INC-2026-002",
        title="Newer incident",
        severity="SEV1",
        kind="near-miss",
        started_at="2026-05-02T09:00:00Z",
        detected_at=None,
        mitigated_at=None,
        resolved_at=None,
        published_at="2026-05-09T09:00:00Z",
    )
    login(make_user("reader@x.example"))
    page = client.get("/").get_data(as_text=True)
    assert page.index("Newer incident") < page.index("Older incident")
    assert "SEV1" in page and "near miss" in page and "checkout-api" in page
    assert "2 postmortems" in page


def test_the_list_filters_by_status(client, login, make_user, make_postmortem):
    make_postmortem(ref="INC-2026-001", title="A published one")
    make_postmortem(ref="INC-2026-002", title="A draft one", status="draft")
    # A member of the draft's team: by default, drafts are read by those involved in them.
    login(make_user("reader@x.example", teams=["payments"]))
    page = client.get("/?status=draft").get_data(as_text=True)
    assert "A draft one" in page and "A published one" not in page
    assert client.get("/?status=nonsense").status_code == 200
    for page in ("abc", "-4"):  # a page that is not a page is a clear 400 (test_hostile_input)
        assert client.get(f"/?page={page}").status_code == 400


def test_the_detail_page_shows_every_section(client, login, make_user, make_postmortem):
    make_postmortem(
        ref="INC-2026-001",
        summary="The **summary** text.",
        impact="Impact words",
        detection="Detection words",
        response="Response words",
        went_well="Well words",
        went_poorly="Poorly words",
        got_lucky="Lucky words",
        surprises="Surprise words",
        lessons="Lesson words",
        timeline=[{"at": "2026-03-02T09:20:00Z", "text": "Alert fired", "source": "pagerduty"}],
        links=[{"title": "Dashboard", "url": "https://grafana.example/d/1"}],
    )
    login(make_user("reader@x.example"))
    response = client.get("/postmortems/INC-2026-001")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for words in (
        "<strong>summary</strong>",
        "Impact words",
        "Detection words",
        "Response words",
        "Well words",
        "Poorly words",
        "Lucky words",
        "Surprise words",
        "Lesson words",
        "Alert fired",
        "pagerduty",
        "The push reached every region at once.",
        "Stage configuration pushes",
        "https://grafana.example/d/1",
        "2026-03-02 09:14 UTC",
    ):
        assert words in page, words
    assert page.index("Summary") < page.index("Impact") < page.index("Lessons")


def test_unknown_refs_get_a_clear_404(client, login, make_user):
    login(make_user("reader@x.example"))
    response = client.get("/postmortems/INC-1999-001")
    assert response.status_code == 404
    assert "There is nothing here" in response.get_data(as_text=True)


def test_script_in_any_field_does_not_reach_the_page(client, login, make_user, make_postmortem):
    payload = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    make_postmortem(
        ref="INC-2026-001",
        title="Title " + payload.replace("\n", ""),
        summary=payload,
        lessons=f"[a](javascript:alert(1)) {payload}",
        timeline=[{"at": "2026-03-02T09:20:00Z", "text": payload, "source": payload[:90]}],
        contributing_factors=[{"text": payload}],
        action_items=[{"title": payload}],
        links=[{"title": payload, "url": "https://example.com/?q=<script>"}],
    )
    login(make_user("reader@x.example"))
    for path in ("/", "/postmortems/INC-2026-001"):
        page = client.get(path).get_data(as_text=True)
        assert dangerous_markup(page) == []
        assert "&lt;script&gt;" in page  # shown as text, not run
