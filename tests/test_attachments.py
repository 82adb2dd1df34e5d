"""Attachments: kept in the database, typed by content, served safely, read through the
postmortem's visibility; the original of an import kept beside what it became."""

import pytest

from kb import attachments, transfer
from kb.models import Attachment, Postmortem
from tests.conftest import _csrf_token

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)


def _attach(client, ref, name, body, json=True):
    """POST a file as a browser would (the multipart body built here, as bytes: the test
    client would spool a large form to a temporary file that nothing closes)."""
    headers = {"Accept": "application/json"} if json else {}
    parts = [
        b'--B\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n',
        _csrf_token(client).encode(),
        b'\r\n--B\r\nContent-Disposition: form-data; name="file"; filename="',
        name.encode(),
        b'"\r\nContent-Type: application/octet-stream\r\n\r\n',
        body,
        b"\r\n--B--\r\n",
    ]
    return client.post(
        f"/postmortems/{ref}/attachments",
        data=b"".join(parts),
        content_type="multipart/form-data; boundary=B",
        headers=headers,
    )


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + bytes(20), "image/jpeg"),
        (b"GIF89a" + bytes(20), "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"2026-03-02 09:14 ERROR pool exhausted\n", "text/plain; charset=utf-8"),
        (b"<html><script>alert(1)</script></html>", None),
        (b'<?xml version="1.0"?><svg onload="alert(1)"/>', None),
        (b"\x00\x01\x02binary", None),
    ],
)
def test_the_type_is_read_from_the_content(body, kind):
    assert attachments.sniff(body) == kind


def test_names_are_made_safe():
    assert attachments.safe_name("../../etc/passwd") == "passwd"
    assert attachments.safe_name('C:\\graphs\\latency "p99".png') == "latency-p99-.png"
    assert attachments.safe_name("") == "file"
    assert len(attachments.safe_name("a" * 300 + ".png")) == attachments.MAX_NAME


def test_an_author_attaches_an_image_and_readers_see_it_only_where_they_may(
    client, make_user, login, make_postmortem, session
):
    make_postmortem(ref="INC-2026-001", authors=["writer@example.com"])
    make_postmortem(ref="INC-2026-002", visibility="restricted", teams=["payments"])
    writer = make_user("writer@example.com", role="author")
    login(writer)
    response = _attach(client, "INC-2026-001", "p99 latency.png", PNG)
    assert response.status_code == 201
    body = response.get_json()
    assert body["markdown"] == f"![p99 latency]({body['url']})"
    shown = client.get(body["url"])
    assert shown.status_code == 200 and shown.data == PNG
    assert shown.headers["Content-Type"] == "image/png"
    assert shown.headers["Content-Disposition"].startswith("inline")
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in shown.headers["Content-Security-Policy"]
    assert (
        client.get(body["url"], headers={"If-None-Match": shown.headers["ETag"]}).status_code == 304
    )

    # The same attachment id under another postmortem's ref is not found.
    wrong = body["url"].replace("INC-2026-001", "INC-2026-002")
    admin = make_user("admin@example.com", role="admin")
    login(admin)
    assert client.get(wrong).status_code == 404
    # A restricted postmortem's files are as hidden as the postmortem.
    pm = session.exec(Postmortem.__table__.select().where(Postmortem.ref == "INC-2026-002")).one()
    hidden = attachments.add(
        session, session.get(Postmortem, pm.id), "trace.txt", b"stack trace", max_bytes=1000
    )
    session.commit()
    url = f"/postmortems/INC-2026-002/attachments/{hidden.id}/trace.txt"
    assert client.get(url).status_code == 200
    assert client.get(url).headers["Content-Disposition"].startswith("attachment")
    login(make_user("reader@example.com"))
    assert client.get(url).status_code == 404
    assert client.get(body["url"]).status_code == 200


def test_refused_files_change_nothing_and_say_why(
    client, make_user, login, make_postmortem, app, session
):
    make_postmortem(ref="INC-2026-001", authors=["writer@example.com"])
    login(make_user("writer@example.com", role="author"))
    html = _attach(client, "INC-2026-001", "page.png", b"<html><body>hi</body></html>")
    assert html.status_code == 422 and "only images" in html.get_json()["error"]
    app.config["ATTACHMENT_MAX_BYTES"] = 3 * 1024 * 1024
    big = _attach(client, "INC-2026-001", "big.txt", b"x" * (3 * 1024 * 1024 + 10))
    assert big.status_code == 422 and "at most 3 MiB" in big.get_json()["error"]
    # Larger than the site-wide request limit of 2 MiB, within the attachment limit: kept.
    fine = _attach(client, "INC-2026-001", "long.log", b"line\n" * (500 * 1024))
    assert fine.status_code == 201
    # Past the attachment limit and its envelope: refused before the body is read.
    far_too_big = _attach(client, "INC-2026-001", "huge.txt", b"x" * (4 * 1024 * 1024))
    assert far_too_big.status_code == 413
    form = _attach(client, "INC-2026-001", "x.svg", b"<svg/>", json=False)
    assert form.status_code == 302 and form.headers["Location"].endswith("/edit#attachments")
    assert len(session.exec(Attachment.__table__.select()).all()) == 1


def test_readers_cannot_attach_or_remove(client, make_user, login, make_postmortem, session):
    make_postmortem(ref="INC-2026-001")
    login(make_user("reader@example.com"))
    assert _attach(client, "INC-2026-001", "a.png", PNG).status_code == 403
    assert session.exec(Attachment.__table__.select()).all() == []


def test_the_editor_lists_files_and_removes_them(
    client, make_user, login, make_postmortem, session
):
    make_postmortem(ref="INC-2026-001", authors=["writer@example.com"])
    login(make_user("writer@example.com", role="author"))
    url = _attach(client, "INC-2026-001", "graph.png", PNG).get_json()["url"]
    page = client.get("/postmortems/INC-2026-001/edit").get_data(as_text=True)
    assert "graph.png" in page and f"![graph]({url})" in page
    number = url.split("/")[-2]
    removed = client.post(
        f"/postmortems/INC-2026-001/attachments/{number}/delete",
        data={"csrf_token": _csrf_token(client)},
    )
    assert removed.status_code == 302
    assert client.get(url).status_code == 404


def test_kb_import_keeps_the_original_once(runner, session, tmp_path):
    source = tmp_path / "dns.md"
    source.write_text("# DNS answers went stale\n\n## Summary\nA resolver cached NXDOMAIN.\n")
    assert runner.invoke(args=["import", str(source)]).exit_code == 0
    assert runner.invoke(args=["import", str(source)]).exit_code == 0
    rows = session.exec(Attachment.__table__.select()).all()
    assert [(r.name, r.origin, r.data) for r in rows] == [("dns.md", "import", source.read_bytes())]
    records = list(transfer.read_records(source))
    assert records[0].original == source.read_bytes()


def test_images_beside_an_imported_file_are_attached_and_shown(
    runner, session, tmp_path, client, make_user, login
):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "p99@latency.png").write_bytes(PNG)
    (tmp_path / "outage.md").write_text(
        "# Cache stampede\n\n## Summary\nLatency rose:\n\n![p99](img/p99@latency.png)\n\n"
        "![elsewhere](https://example.com/x.png) ![gone](missing.png) ![up](../secret.png)\n"
    )
    (tmp_path.parent / "secret.png").write_bytes(PNG)
    result = runner.invoke(args=["import", str(tmp_path / "outage.md")])
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated" in result.output  # linking its images is part of creating it
    pm = session.exec(Postmortem.__table__.select()).one()
    summary = pm.summary
    assert f"![p99](/postmortems/{pm.ref}/files/p99-latency.png)" in summary
    assert "![elsewhere](https://example.com/x.png)" in summary  # links elsewhere stay
    assert "![gone](missing.png)" in summary and "![up](../secret.png)" in summary
    names = sorted(r.name for r in session.exec(Attachment.__table__.select()).all())
    assert names == ["outage.md", "p99-latency.png"]  # nothing from outside the folder
    login(make_user("reader@example.com"))  # an imported draft is for those involved
    assert client.get(f"/postmortems/{pm.ref}/files/p99-latency.png").status_code == 404
    login(make_user("admin@example.com", role="admin"))
    shown = client.get(f"/postmortems/{pm.ref}/files/p99-latency.png")
    assert shown.status_code == 200 and shown.data == PNG
    assert client.get(f"/postmortems/{pm.ref}/files/secret.png").status_code == 404


@pytest.mark.parametrize("fmt", ["json", "markdown"])
def test_export_and_import_carry_attachments(runner, session, make_postmortem, tmp_path, fmt):
    pm = make_postmortem(ref="INC-2026-001")
    attachments.add(session, pm, "p99.png", PNG, max_bytes=10_000)
    attachments.add(session, pm, "trace.txt", b"stack trace\n", max_bytes=10_000)
    session.commit()
    out = tmp_path / "out"
    assert runner.invoke(args=["export", "--format", fmt, str(out)]).exit_code == 0
    assert sorted(p.name for p in (out / "INC-2026-001.files").iterdir()) == [
        "p99.png",
        "trace.txt",
    ]
    for table in ("attachment", "revision", "actionitem", "factor", "label", "change"):
        session.exec(Postmortem.metadata.tables[table].delete())
    session.exec(Postmortem.__table__.delete())
    session.commit()
    for _ in range(2):  # importing again adds nothing
        result = runner.invoke(args=["import", str(out)])
        assert result.exit_code == 0, result.output
    kept = {
        (r.name, r.data)
        for r in session.exec(Attachment.__table__.select()).all()
        if r.origin == "upload"
    }
    assert kept == {("p99.png", PNG), ("trace.txt", b"stack trace\n")}
