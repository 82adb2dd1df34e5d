"""The import page: files checked and mapped before anything is saved, then landed as drafts
owned by the uploader; bad files named with their reasons; readers kept out."""

import io
import json
import re

from kb.models import Postmortem, Revision
from tests.conftest import _csrf_token, document

MARKDOWN = b"""# Postmortem: Search index served stale results

## TL;DR
Search showed day-old prices for three hours.

## Timeline
- 2025-02-03 09:10 UTC - Indexer stalls
- 2025-02-03 12:05 UTC - Indexer restarted

## Next steps
- [ ] Alert when the indexer falls behind
"""


def _upload(client, *files):
    data = {"csrf_token": _csrf_token(client)}
    data["files"] = [(io.BytesIO(body), name) for name, body in files]
    return client.post("/import", data=data, content_type="multipart/form-data")


def _confirm(client, page):
    payload = re.search(r'name="documents" value="([^"]*)"', page).group(1)
    import html

    return client.post(
        "/import/confirm",
        data={"csrf_token": _csrf_token(client), "documents": html.unescape(payload)},
    )


def test_files_are_checked_and_mapped_before_anything_is_saved(client, make_user, login, session):
    author = make_user("writer@example.com", role="author")
    login(author)
    page = _upload(
        client,
        ("stale-search.md", MARKDOWN),
        ("broken.json", b"{not json"),
        ("old.json", json.dumps(document(ref="INC-2025-900")).encode()),
    )
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "2 of 3 files can be imported" in text
    assert "Search index served stale results" in text
    assert "<td>TL;DR</td><td>Summary</td>" in text
    assert "<td>Next steps</td><td>Action items</td>" in text
    assert "broken.json" in text and "not valid JSON" in text
    assert session.exec(Postmortem.__table__.select()).all() == []  # nothing saved yet

    done = _confirm(client, text)
    assert done.status_code == 200
    assert "2 postmortems imported" in done.get_data(as_text=True)
    rows = {r.title: r for r in session.exec(Postmortem.__table__.select()).all()}
    assert set(rows) == {"Search index served stale results", document()["title"]}
    assert {r.status for r in rows.values()} == {"draft"}  # a published file lands as a draft
    for row in rows.values():
        pm = session.get(Postmortem, row.id)
        assert pm.label_values("authors")[0] == "writer@example.com"
        assert pm.published_at is None
    assert len(session.exec(Revision.__table__.select()).all()) == 2


def test_a_ref_that_exists_is_refused_and_the_rest_imported(
    client, make_user, login, session, make_postmortem
):
    make_postmortem(ref="INC-2025-900")
    login(make_user("writer@example.com", role="author"))
    page = _upload(
        client,
        ("copy.json", json.dumps(document(ref="INC-2025-900")).encode()),
        ("new.md", MARKDOWN),
    )
    done = _confirm(client, page.get_data(as_text=True)).get_data(as_text=True)
    assert "1 postmortem imported" in done
    assert "INC-2025-900 exists already" in done
    assert len(session.exec(Postmortem.__table__.select()).all()) == 2


def test_readers_cannot_import_and_empty_or_tampered_forms_change_nothing(
    client, make_user, login, session
):
    login(make_user("reader@example.com"))
    assert client.get("/import").status_code == 403
    assert _upload(client, ("a.md", MARKDOWN)).status_code == 403
    login(make_user("writer@example.com", role="author"))
    assert client.get("/import").status_code == 200
    empty = client.post("/import", data={"csrf_token": _csrf_token(client)})
    assert empty.status_code == 302
    tampered = client.post(
        "/import/confirm",
        data={"csrf_token": _csrf_token(client), "documents": "[1, 2"},
        follow_redirects=True,
    )
    assert "were lost on the way" in tampered.get_data(as_text=True)
    forged = client.post(
        "/import/confirm",
        data={
            "csrf_token": _csrf_token(client),
            "documents": json.dumps([{"source": "x.md", "document": {"title": "x"}}]),
        },
    )
    assert "title: must be" in forged.get_data(as_text=True)
    assert session.exec(Postmortem.__table__.select()).all() == []
