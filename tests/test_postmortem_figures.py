"""The postmortem page shows the incident's own figures beside its times."""

from html.parser import HTMLParser

import pytest

from kb.insights import kpis


class _Facts(HTMLParser):
    """The (term, value) pairs of the page's facts list, as text."""

    def __init__(self):
        super().__init__()
        self.pairs, self._in, self._text = [], None, ""

    def handle_starttag(self, tag, attrs):
        if tag in ("dt", "dd"):
            self._in, self._text = tag, ""

    def handle_endtag(self, tag):
        if tag == "dt":
            self.pairs.append([self._text.strip(), None])
        elif tag == "dd" and self.pairs and self.pairs[-1][1] is None:
            self.pairs[-1][1] = " ".join(self._text.split())
        if tag in ("dt", "dd"):
            self._in = None

    def handle_data(self, data):
        if self._in:
            self._text += data


def facts(page):
    parser = _Facts()
    parser.feed(page)
    return parser.pairs


@pytest.fixture
def reader(login, make_user):
    # In the postmortems' team: by default, drafts are read by those involved in them.
    return login(make_user("reader@x.example", teams=["payments"]))


def test_the_page_shows_time_to_detect_mitigate_and_resolve(reader, make_postmortem):
    # Started 09:14, detected 09:31, mitigated 10:05, resolved 11:40 (tests.conftest.document).
    make_postmortem(ref="INC-2026-001")
    pairs = facts(reader.get("/postmortems/INC-2026-001").get_data(as_text=True))
    names = [name for name, _ in pairs]
    assert names[:7] == [
        "Started",
        "Detected",
        "Mitigated",
        "Resolved",
        "Time to detect",
        "Time to mitigate",
        "Time to resolve",
    ]
    assert pairs[4:7] == [
        ["Time to detect", "17 min"],
        ["Time to mitigate", "51 min"],
        ["Time to resolve", "2 h 26 min"],
    ]


def test_a_time_not_known_has_no_figure(reader, make_postmortem):
    make_postmortem(ref="INC-2026-001", mitigated_at=None, resolved_at=None)
    make_postmortem(ref="INC-2026-002", status="draft", started_at=None, published_at=None)
    first = dict(facts(reader.get("/postmortems/INC-2026-001").get_data(as_text=True)))
    assert first["Time to detect"] == "17 min"
    assert "Time to mitigate" not in first and "Time to resolve" not in first
    second = dict(facts(reader.get("/postmortems/INC-2026-002").get_data(as_text=True)))
    assert second["Started"] == "—" and second["Detected"] == "2026-03-02 09:31 UTC"
    assert not [name for name in second if name.startswith("Time to")]


def test_days_read_as_days_and_hours(reader, make_postmortem):
    pm = make_postmortem(ref="INC-2026-001", resolved_at="2026-03-04T12:14:00Z")
    assert kpis.response_times(pm)[-1] == ("Time to resolve", (2 * 24 + 3) * 60)
    pairs = dict(facts(reader.get("/postmortems/INC-2026-001").get_data(as_text=True)))
    assert pairs["Time to resolve"] == "2 d 3 h"
