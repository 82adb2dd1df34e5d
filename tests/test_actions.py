"""The action items page: open, overdue and due soon, filtered, and owners mark progress."""

from kb import postmortems


def items(**fields):
    return {
        "action_items": [
            {"title": "Overdue thing", "owner": "payments", "due": "2026-01-10", "status": "open"},
            {"title": "Far future thing", "owner": "sre", "due": "2099-01-01", "status": "open"},
            {"title": "Finished thing", "owner": "payments", "due": "2026-01-01", "status": "done"},
        ],
        **fields,
    }


def test_views_and_filters(client, login, make_user, make_postmortem):
    make_postmortem(ref="INC-2026-001", **items())
    login(make_user("reader@x.example"))

    def titles(query):
        page = client.get(f"/actions?{query}").get_data(as_text=True)
        return {t for t in ("Overdue thing", "Far future thing", "Finished thing") if t in page}

    assert titles("") == {"Overdue thing", "Far future thing"}
    assert titles("view=overdue") == {"Overdue thing"}
    assert titles("view=done") == {"Finished thing"}
    assert titles("view=all&owner=sre") == {"Far future thing"}
    assert titles("view=all&team=payments") == {
        "Overdue thing",
        "Far future thing",
        "Finished thing",
    }
    assert titles("view=all&team=storefront") == set()
    assert titles("view=nonsense") == {"Overdue thing", "Far future thing"}


def test_owners_mark_progress(client, login, make_user, make_postmortem, session, csrf_token):
    make_postmortem(ref="INC-2026-001", **items())
    login(make_user("member@x.example", role="reader", teams=["payments"]))
    token = csrf_token()
    response = client.post(
        "/actions/INC-2026-001/0", data={"status": "in-progress", "csrf_token": token}
    )
    assert response.status_code == 302
    refused = client.post("/actions/INC-2026-001/1", data={"status": "done", "csrf_token": token})
    assert refused.status_code == 302
    page = client.get("/actions").get_data(as_text=True)
    assert "Only the owner, authors and admins" in page
    session.expire_all()
    pm = postmortems.get(session, "INC-2026-001", None)
    assert [a.status for a in pm.action_items] == ["in-progress", "open", "done"]
    assert pm.version == 2
    bad = client.post("/actions/INC-2026-001/0", data={"status": "closed", "csrf_token": token})
    assert bad.status_code == 302
    assert (
        client.post(
            "/actions/INC-1999-001/0", data={"status": "done", "csrf_token": token}
        ).status_code
        == 404
    )
