"""The digest in the browser: months, preview, API, settings and the unsubscribe link."""

from kb.digest.subscriptions import make_token
from tests.html_checks import elements


def _token(user):
    return make_token("test-secret", user)


def test_the_index_lists_months_and_links_the_settings(client, login, make_user, make_postmortem):
    make_postmortem(ref="INC-2026-001")
    login(make_user("reader@x.example"))
    page = client.get("/digest/").get_data(as_text=True)
    assert "Monthly digest" in page and "/digest/settings" in page
    assert ">Digest</a>" in client.get("/").get_data(as_text=True)  # in the main navigation
    picked = client.get("/digest/?month=2026-03")
    assert picked.status_code == 302 and picked.headers["Location"].endswith("/digest/2026-03")
    assert "is not a month" in client.get("/digest/?month=March", follow_redirects=True).get_data(
        as_text=True
    )


def test_the_preview_shows_the_email_in_a_sandboxed_frame_with_its_own_csp(
    client, login, make_user, make_postmortem
):
    make_postmortem(ref="INC-2026-001", title="Checkout errors after a push")
    login(make_user("reader@x.example"))
    response = client.get("/digest/2026-03")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Hindsight · March 2026: 1 incident" in page
    # The page itself keeps the site's strict CSP: no inline style anywhere in it.
    assert "style-src 'self'" in response.headers["Content-Security-Policy"]
    assert not [tag for tag, attrs in elements(page) if "style" in attrs or tag == "style"]
    [frame] = [attrs for tag, attrs in elements(page) if tag == "iframe"]
    assert frame["src"] == "/digest/2026-03/email.html"
    assert "allow-scripts" not in frame["sandbox"]

    email = client.get(frame["src"])
    assert email.status_code == 200 and email.mimetype == "text/html"
    csp = email.headers["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'self'" in csp and "sandbox" in csp
    assert email.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "Checkout errors after a push" in email.get_data(as_text=True)

    text = client.get("/digest/2026-03?view=text").get_data(as_text=True)
    assert "PUBLISHED IN MARCH 2026" in text


def test_bad_months_get_a_clear_answer(client, login, make_user):
    login(make_user("reader@x.example"))
    for path in (
        "/digest/2026-13",
        "/digest/march",
        "/digest/2999-01",
        "/digest/2999-01/email.html",
    ):
        assert client.get(path).status_code == 404, path
    response = client.get("/api/v1/digest/2026-13")
    assert response.status_code == 400
    assert response.get_json()["error"]["errors"][0]["field"] == "month"


def test_the_api_returns_the_digest_as_you_would_receive_it(
    client, make_user, make_postmortem, session
):
    from kb import accounts

    make_postmortem(ref="INC-2026-001", lessons="- Stage pushes.")
    make_user("reader@x.example")
    _row, token = accounts.create_token(session, "reader@x.example", "digest")
    session.commit()
    response = client.get("/api/v1/digest/2026-03", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert data["month"] == "2026-03" and data["title"] == "March 2026"
    assert data["subject"] == "Hindsight · March 2026: 1 incident"
    assert data["incidents"][0]["lesson"] == "Stage pushes."
    assert data["incidents"][0]["url"] == "http://hindsight.test/postmortems/INC-2026-001"
    assert {f["label"] for f in data["key_figures"]} >= {"Incidents", "Median time to detect"}
    assert client.get("/api/v1/digest/2026-03").status_code == 401
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/digest/{month}" in spec["paths"]


def test_unsubscribing_needs_no_sign_in_and_a_get_changes_nothing(client, make_user, session):
    user = make_user("reader@x.example")
    url = f"/digest/unsubscribe/{_token(user)}"
    page = client.get(url)  # what a mail scanner does
    assert page.status_code == 200
    assert "Unsubscribe from the digest?" in page.get_data(as_text=True)
    session.refresh(user)
    assert user.digest_opt_out is False

    body = page.get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    csrf = body[body.index(marker) + len(marker) :].split('"', 1)[0]
    done = client.post(url, data={"csrf_token": csrf, "action": "unsubscribe"})
    assert "You are unsubscribed" in done.get_data(as_text=True)
    session.refresh(user)
    assert user.digest_opt_out is True

    again = client.post(url, data={"csrf_token": csrf, "action": "subscribe"})
    assert "subscribed again" in again.get_data(as_text=True)
    session.refresh(user)
    assert user.digest_opt_out is False


def test_rfc_8058_one_click_works_without_cookies_or_csrf(app, make_user, session, runner):
    user = make_user("reader@x.example")
    fresh = app.test_client()  # no session, as a mail provider posts it
    response = fresh.post(
        f"/digest/unsubscribe/{_token(user)}", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    session.refresh(user)
    assert user.digest_opt_out is True
    log = runner.invoke(args=["audit", "--action", "digest-unsubscribe"]).output
    assert "reader@x.example (one-click)" in log


def test_a_forged_or_damaged_token_is_refused(app, make_user, session):
    user = make_user("reader@x.example")
    victim = make_user("victim@x.example")
    good = _token(user)
    forged = make_token("another-secret", victim)
    fresh = app.test_client()
    for token in (forged, good[:-3], "nonsense", good.replace(".", "x", 1)):
        response = fresh.post(
            f"/digest/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}
        )
        assert response.status_code == 404, token
        assert "not valid" in response.get_data(as_text=True)
    session.refresh(victim)
    assert victim.digest_opt_out is False


def test_a_token_for_an_address_that_changed_is_refused(app, make_user, session):
    user = make_user("reader@x.example")
    token = _token(user)
    user.email = "renamed@x.example"
    session.commit()
    assert app.test_client().get(f"/digest/unsubscribe/{token}").status_code == 404


def test_the_settings_page_opts_out_and_in(client, login, make_user, session, csrf_token):
    user = make_user("reader@x.example")
    login(user)
    page = client.get("/digest/settings").get_data(as_text=True)
    assert "Send the monthly digest to reader@x.example" in page
    response = client.post("/digest/settings", data={"digest": "off", "csrf_token": csrf_token()})
    assert "You will not receive the digest." in response.get_data(as_text=True)
    session.refresh(user)
    assert user.digest_opt_out is True
    client.post("/digest/settings", data={"digest": "on", "csrf_token": csrf_token()})
    session.refresh(user)
    assert user.digest_opt_out is False
    assert (
        client.post(
            "/digest/settings", data={"digest": "x", "csrf_token": csrf_token()}
        ).status_code
        == 400
    )
    assert client.post("/digest/settings", data={"digest": "off"}).status_code == 400  # no CSRF


def test_admins_see_the_send_log_on_the_index(
    client, login, make_user, make_postmortem, runner, app
):
    make_postmortem(ref="INC-2026-001")
    admin = make_user("admin@x.example", role="admin")
    app.config["MAIL_BACKEND"] = "memory"
    result = runner.invoke(args=["digest", "send", "--month", "2026-03"])
    assert result.exit_code == 0, result.output
    login(admin)
    page = client.get("/digest/").get_data(as_text=True)
    assert "Send log" in page and "1 sent" in page
    login(make_user("reader@x.example"))
    assert "Send log" not in client.get("/digest/").get_data(as_text=True)


def test_the_preview_command_prints_the_text(runner, make_postmortem, make_user):
    make_postmortem(ref="INC-2026-001", title="Printed here")
    make_user("reader@x.example")
    result = runner.invoke(
        args=["digest", "preview", "--month", "2026-03", "--as", "reader@x.example"]
    )
    assert result.exit_code == 0, result.output
    assert "Subject: Hindsight · March 2026: 1 incident" in result.output
    assert "Printed here" in result.output
    html = runner.invoke(args=["digest", "preview", "--month", "2026-03", "--html"]).output
    assert html.startswith("<!DOCTYPE html>")
