"""Markdown within a budget: pathological text is shown as typed (and the preview says why),
and pages show the HTML rendered once at save. Checked by what was refused, not by timing."""

import pytest
from sqlmodel import select

from kb import markdown
from kb.models import SectionHtml

NESTED = "[" * 8000 + "]" * 8000  # 16 KB of [[[...]]]: 12 seconds to render before
SETEXT = "a\n=\n" * 12_500  # passes the bracket and fence checks, but is quadratic


@pytest.fixture(autouse=True)
def _fresh_cache():
    markdown.render_checked.cache_clear()
    yield
    markdown.render_checked.cache_clear()


def test_nested_brackets_are_refused_before_rendering():
    assert markdown.link_scan(NESTED) > markdown.MAX_LINK_SCAN
    result = markdown.render_checked(NESTED)
    assert result.refused == markdown.TOO_MANY_BRACKETS
    assert result.html == f'<pre class="as-typed">{NESTED}</pre>'


def test_unclosed_brackets_and_code_fences_are_refused_too():
    assert markdown.render_checked("[a](" * 4000).refused == markdown.TOO_MANY_BRACKETS
    assert markdown.render_checked("![" * 8000).refused == markdown.TOO_MANY_BRACKETS
    assert markdown.render_checked("~~~a\n" * 10_000).refused == markdown.TOO_MANY_FENCES


def test_a_render_over_its_cpu_budget_is_stopped_and_shown_as_typed():
    result = markdown.render_checked(SETEXT)
    assert result.refused == markdown.TOO_SLOW
    assert result.html.startswith('<pre class="as-typed">a\n=\na\n=\n')
    # The thread that was interrupted renders normally afterwards.
    assert markdown.render("**after**") == "<p><strong>after</strong></p>"


def test_text_is_escaped_when_shown_as_typed():
    text = "<script>alert(1)</script>" + "[" * 500
    result = markdown.render_checked(text)
    assert result.refused and "<script>" not in result.html
    assert "&lt;script&gt;" in result.html


def test_ordinary_markdown_with_links_and_brackets_is_formatted():
    links = " ".join(f"[note {n}](https://x.example/{n}) [sic]" for n in range(300))
    text = f"# Heading\n\n{links}\n\n```\nx = a[i] (b)\n```\n\n- one\n- two (see [1])\n"
    result = markdown.render_checked(text * 3)
    assert result.refused is None
    assert '<a href="https://x.example/299" rel="noopener noreferrer nofollow">' in result.html


def test_the_preview_says_why_it_shows_text_as_typed(client, make_user, login, csrf_token):
    login(make_user("reader@x.example"))  # readers may preview too
    response = client.post(
        "/postmortems/preview", data={"text": NESTED, "csrf_token": csrf_token()}
    )
    assert response.status_code == 200
    assert response.json["notice"] == markdown.TOO_MANY_BRACKETS
    assert response.json["html"].startswith('<pre class="as-typed">[[[')
    ok = client.post("/postmortems/preview", data={"text": "**b**", "csrf_token": csrf_token()})
    assert ok.json == {"html": "<p><strong>b</strong></p>", "notice": None}


def _stored(session, pm):
    rows = session.exec(select(SectionHtml).where(SectionHtml.postmortem_id == pm.id)).all()
    return {row.section: row for row in rows}


def test_sections_are_rendered_once_at_save_and_pages_show_the_stored_html(
    client, make_user, login, make_postmortem, session
):
    pm = make_postmortem(ref="INC-2026-201", summary="**Bold** summary", lessons=NESTED)
    stored = _stored(session, pm)
    assert set(stored) == {"summary", "lessons"}
    assert stored["summary"].html == "<p><strong>Bold</strong> summary</p>"
    assert stored["summary"].refused is None
    assert stored["lessons"].refused == markdown.TOO_MANY_BRACKETS
    # The page shows what was stored: it does not render the Markdown again.
    stored["summary"].html = "<p>stored-marker</p>"
    session.commit()
    login(make_user("reader@x.example"))
    page = client.get("/postmortems/INC-2026-201").get_data(as_text=True)
    assert "<p>stored-marker</p>" in page
    assert '<pre class="as-typed">[[[' in page


def test_a_section_without_a_stored_render_is_rendered_when_shown(
    client, make_user, login, make_postmortem, session
):
    pm = make_postmortem(ref="INC-2026-202", summary="*Saved* before renders were stored")
    for row in _stored(session, pm).values():
        session.delete(row)
    session.commit()
    login(make_user("reader@x.example"))
    page = client.get("/postmortems/INC-2026-202").get_data(as_text=True)
    assert "<em>Saved</em> before renders were stored" in page


def test_a_changed_section_is_rendered_again_at_save(make_postmortem, session):
    from kb import postmortems
    from kb.document import to_document, validate

    pm = make_postmortem(ref="INC-2026-203", summary="first", impact="kept")
    kept = _stored(session, pm)["impact"].source
    doc = {**to_document(pm), "summary": "*second*", "impact": "kept", "lessons": ""}
    postmortems.save_document(session, validate(doc))
    session.commit()
    stored = _stored(session, pm)
    assert stored["summary"].html == "<p><em>second</em></p>"
    assert stored["impact"].source == kept == markdown.fingerprint("kept")


def test_the_sections_of_one_save_share_one_budget(make_postmortem, session, monkeypatch):
    from kb.models import SECTIONS

    budgets = []
    checked = markdown.render_checked

    def recording(text, budget=markdown.RENDER_BUDGET):
        budgets.append(budget)
        return checked(text, budget)

    monkeypatch.setattr(markdown, "render_checked", recording)
    slow = {field: SETEXT[:48_000] + field for field in SECTIONS}  # nine different slow texts
    pm = make_postmortem(ref="INC-2026-204", **slow)
    assert all(row.refused == markdown.TOO_SLOW for row in _stored(session, pm).values())
    assert len(budgets) == len(SECTIONS) and max(budgets) == markdown.RENDER_BUDGET
    # What the save may spend: its budget, plus the floor for each section after it ran out.
    assert sum(budgets) <= markdown.SAVE_BUDGET + len(SECTIONS) * markdown.MIN_BUDGET + 0.1


def test_plain_text_for_digests_takes_a_small_budget_and_only_the_opening(monkeypatch):
    calls = []
    checked = markdown.render_checked

    def recording(text, budget=markdown.RENDER_BUDGET):
        calls.append((len(text), budget))
        return checked(text, budget)

    monkeypatch.setattr(markdown, "render_checked", recording)
    assert markdown.plain_text(SETEXT) == SETEXT.strip()  # too slow: used as typed
    assert calls == [(len(SETEXT), markdown.MIN_BUDGET)]
    calls.clear()
    assert markdown.first_sentence("A *short* one. " + "x " * 20_000) == "A short one."
    assert calls == [(240 * 8, markdown.MIN_BUDGET)]


def test_a_garbage_collection_during_a_render_does_not_count_against_its_budget():
    """A full collection of a large process can take longer than a render's budget; an
    ordinary text must not be shown as typed because one ran while it was rendered."""
    import gc
    import time

    def slow_collection(phase, _info):
        if phase == "start":  # the collection itself takes 0.2 s of this thread's CPU
            started = time.thread_time()
            while time.thread_time() - started < 0.2:
                pass

    def render_with_a_collection(text):
        gc.collect()
        return text

    markdown._hook_collections()  # the budget's own callback first, as in any render after one
    gc.callbacks.append(slow_collection)
    try:
        assert markdown._within_budget(render_with_a_collection, "done", 0.05) == "done"
    finally:
        gc.callbacks.remove(slow_collection)
