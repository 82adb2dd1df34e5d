"""Markdown is rendered and sanitised: no script or event handler survives."""

import pytest

from kb.markdown import first_sentence, plain_text, render

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    '<iframe src="https://evil.example"></iframe>',
    "<body onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "![x](javascript:alert(1))",
    "<details open ontoggle=alert(1)>",
    '<object data="javascript:alert(1)"></object>',
    '<form action="https://evil.example"><button>go</button></form>',
    "<input autofocus onfocus=alert(1)>",
    "<<script>script>alert(1)<</script>/script>",
    "<scr<script>ipt>alert(1)</script>",
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    "<link rel=stylesheet href=https://evil.example/x.css>",
    "<style>body{display:none}</style>",
    "`<script>` in code is fine",
]
FORBIDDEN = [
    "<script",
    "onerror",
    "onload",
    "javascript:",
    "<iframe",
    "ontoggle",
    "onfocus",
    "<object",
    "<form",
    "<meta",
    "<link",
    "<style",
    "data:text/html",
    "<svg",
    "<input",
]


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_no_script_survives(payload):
    html = render(f"Before\n\n{payload}\n\nAfter").lower()
    for bad in FORBIDDEN:
        assert bad not in html, (payload, html)


def test_markdown_is_rendered():
    html = render("**bold** and a [link](https://example.com)\n\n- one\n- two")
    assert "<strong>bold</strong>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">link</a>' in html
    assert "<li>one</li>" in html


def test_plain_text_and_first_sentence():
    text = "The **cache** expired. Then the database fell over.\n\n- a list item"
    assert "cache" in plain_text(text) and "**" not in plain_text(text)
    assert first_sentence(text) == "The cache expired."
    assert render("") == "" and plain_text("") == ""
