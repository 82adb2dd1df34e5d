"""Importing timeline entries from where they were recorded: a Slack export (zip or folder), a
PagerDuty incident's log entries and a CSV, each read for the incident's window; the page that
shows them to be chosen and adds the chosen ones as a new revision; the API's dry run and
apply; a version conflict that loses nothing; bad files refused with a clear message."""

import html
import io
import json
import re
import zipfile
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from kb import accounts, editing, timeline_sources
from kb.document import to_document
from kb.models import Postmortem
from kb.timeline_sources import Limits, SourceError, Window
from kb.timeline_sources.merge import merged
from tests.conftest import _csrf_token, document

REF = "INC-2026-014"
# The incident of tests.conftest.document: started 09:14, resolved 11:40 (UTC), 2 March 2026.
WINDOW = Window(datetime(2026, 3, 2, 8, 44, tzinfo=UTC), datetime(2026, 3, 2, 12, 10, tzinfo=UTC))


def ts(text):
    """Slack's `ts` of a UTC time: seconds since 1970 with microseconds after the point."""
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return f"{int(moment.timestamp())}.000200"


USERS = [
    {
        "id": "U01ALICE",
        "name": "alice",
        "real_name": "Alice Chen",
        "profile": {"real_name": "Alice Chen", "display_name": "alice"},
    },
    {"id": "U02BOB", "name": "bob", "profile": {"real_name": "", "display_name": "Bob O."}},
]
CHANNELS = [{"id": "C01INC", "name": "inc-2026-014"}, {"id": "C02GEN", "name": "general"}]


def message(at, text, user="U01ALICE", **fields):
    """A Slack message as the export writes it, sent at `at` (UTC) on 2 or 3 March 2026."""
    return {"type": "message", "user": user, "ts": ts(at), "text": text, **fields}


THREAD = {"thread_ts": ts("2026-03-02T09:20:00")}
INCIDENT_DAY_1 = [
    message("2026-03-02T09:15:00", "<@U01ALICE> has joined the channel", subtype="channel_join"),
    message(
        "2026-03-02T09:20:00",
        "<@U02BOB> checkout is throwing 500s, see "
        "<https://grafana.example/d/checkout|the dashboard> &amp; <#C02GEN>",
        reply_count=1,
        **THREAD,
    ),
    message("2026-03-02T09:25:30", "Rolling back the config push", "U02BOB", **THREAD),
    message(
        "2026-03-02T10:05:00",
        "",
        None,
        subtype="bot_message",
        username="deploybot",
        bot_id="B01",
        attachments=[{"fallback": "Deploy 4512 finished: checkout-api rolled back"}],
    ),
    message("2026-03-02T10:07:00", "Error graph", files=[{"name": "errors.png"}]),
    message("2026-03-02T07:50:00", "Morning, all quiet"),
    message("2026-03-02T11:50:00", "<@U02BOB> has left", "U02BOB", subtype="channel_leave"),
    message("2026-03-02T11:41:00", "<!here> resolved, thanks all"),
]
INCIDENT_DAY_2 = [message("2026-03-03T09:00:00", "Writing the postmortem now", "U02BOB")]
GENERAL_DAY_1 = [message("2026-03-02T09:30:00", "lunch?", "U02BOB")]


def slack_files(top=""):
    """A Slack export as (path, bytes): two channels, two days of the incident's channel."""
    files = {
        "users.json": USERS,
        "channels.json": CHANNELS,
        "inc-2026-014/2026-03-02.json": INCIDENT_DAY_1,
        "inc-2026-014/2026-03-03.json": INCIDENT_DAY_2,
        "general/2026-03-02.json": GENERAL_DAY_1,
    }
    return [(top + name, json.dumps(body).encode()) for name, body in files.items()]


def zipped(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


EXPECTED_SLACK = [
    (
        "2026-03-02T09:20:00Z",
        "@Bob O. checkout is throwing 500s, see the dashboard "
        "(https://grafana.example/d/checkout) & #general",
        "slack #inc-2026-014 (Alice Chen)",
    ),
    (
        "2026-03-02T09:25:30Z",
        "Rolling back the config push",
        "slack #inc-2026-014 (Bob O., in a thread)",
    ),
    (
        "2026-03-02T10:05:00Z",
        "Deploy 4512 finished: checkout-api rolled back",
        "slack #inc-2026-014 (deploybot)",
    ),
    ("2026-03-02T10:07:00Z", "Error graph [file: errors.png]", "slack #inc-2026-014 (Alice Chen)"),
    ("2026-03-02T11:41:00Z", "@here resolved, thanks all", "slack #inc-2026-014 (Alice Chen)"),
]


def rows(reading):
    return [(e.as_row()["at"], e.text, e.source) for e in reading.entries]


# --- Slack -----------------------------------------------------------------------------------


def test_a_slack_export_zip_yields_the_entries_of_the_window():
    reading = timeline_sources.read(
        "slack", [("export.zip", zipped(slack_files()))], WINDOW, hint=REF
    )
    assert reading.channel == "inc-2026-014"
    assert rows(reading) == EXPECTED_SLACK
    # 07:50 (before) and the next day's message (after); the join and the leave are no entries
    assert reading.outside == 2
    assert reading.problems == []


def test_a_slack_export_folder_on_disk_reads_the_same(tmp_path):
    for name, data in slack_files("slack-export/"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    reading = timeline_sources.from_folder("slack", tmp_path, WINDOW, channel="#inc-2026-014")
    assert rows(reading) == EXPECTED_SLACK


def test_a_zip_of_the_export_folder_and_the_next_day_in_a_longer_window():
    longer = Window(WINDOW.start, datetime(2026, 3, 3, 12, 0, tzinfo=UTC))
    reading = timeline_sources.read(
        "slack", [("x.zip", zipped(slack_files("export/")))], longer, channel="inc-2026-014"
    )
    assert rows(reading)[-1] == (
        "2026-03-03T09:00:00Z",
        "Writing the postmortem now",
        "slack #inc-2026-014 (Bob O.)",
    )
    assert reading.outside == 1


def test_several_channels_without_a_hint_ask_which_one():
    with pytest.raises(SourceError) as refused:
        timeline_sources.read("slack", [("export.zip", zipped(slack_files()))], WINDOW)
    assert refused.value.field == "channel"
    assert "2 channels have messages on the window's days: #inc-2026-014, #general." in str(
        refused.value
    )
    general = timeline_sources.read(
        "slack", [("export.zip", zipped(slack_files()))], WINDOW, channel="General"
    )
    assert rows(general) == [("2026-03-02T09:30:00Z", "lunch?", "slack #general (Bob O.)")]
    with pytest.raises(SourceError, match="no channel #random; it has #general, #inc-2026-014"):
        timeline_sources.read(
            "slack", [("e.zip", zipped(slack_files()))], WINDOW, channel="#random"
        )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([("e.zip", b"PK\x03\x04 not really a zip")], "no <channel>/<YYYY-MM-DD>.json"),
        ([("e.zip", zipped([("readme.txt", b"hello")]))], "is it a Slack export"),
        (
            [("e.zip", zipped([("users.json", b"{"), ("c/2026-03-02.json", b"[]")]))],
            "users.json is not valid JSON",
        ),
        (
            [("e.zip", zipped([("c/2026-03-02.json", b'{"not": "a list"}')]))],
            "c/2026-03-02.json is not a JSON list of messages",
        ),
        ([("e.zip", zipped([("c/2026-03-02.json", b"\xff\xfe[")]))], "is not UTF-8"),
    ],
)
def test_bad_slack_exports_are_refused_with_a_reason(files, message):
    with pytest.raises(SourceError, match=re.escape(message)):
        timeline_sources.read("slack", files, WINDOW)


def test_a_zip_bomb_stops_at_the_limits():
    bomb = zipped([("c/2026-03-02.json", b"[" + b" " * 5_000_000 + b"]")])
    assert len(bomb) < 20_000
    small = Limits(upload=1024 * 1024, unpacked=1024 * 1024, files=100)
    with pytest.raises(SourceError, match="unpacks to more than 1 MiB"):
        timeline_sources.read("slack", [("bomb.zip", bomb)], WINDOW, limits=small)
    many = zipped([(f"c/2026-03-{d:02d}.json", b"[]") for d in range(1, 29)] * 1)
    with pytest.raises(SourceError, match="holds 28 files; at most 10"):
        timeline_sources.read("slack", [("many.zip", many)], WINDOW, limits=Limits(files=10))


def test_a_zip_that_lies_about_its_sizes_is_still_bounded():
    data = zipped([("c/2026-03-02.json", b"[" + b" " * 3_000_000 + b"]")])
    # Rewrite the declared size in the central directory to 2 bytes.
    archive = zipfile.ZipFile(io.BytesIO(data))
    info = archive.infolist()[0]
    lying = bytearray(data)
    directory = data.rindex(b"PK\x01\x02")
    lying[directory + 24 : directory + 28] = (2).to_bytes(4, "little")
    assert info.file_size > 2
    # zipfile reads no further than the declared size, and the check of the content fails
    with pytest.raises(SourceError, match="cannot be unpacked"):
        timeline_sources.read(
            "slack",
            [("lying.zip", bytes(lying))],
            WINDOW,
            limits=Limits(unpacked=1024 * 1024),
        )


# --- PagerDuty --------------------------------------------------------------------------------


def log_entry(kind, at, summary, agent=None, **fields):
    """One log entry as GET /incidents/{id}/log_entries answers it."""
    entry = {"id": kind[:2].upper(), "type": f"{kind}_log_entry", "summary": summary, **fields}
    if at:
        entry["created_at"] = at
    if agent:
        entry["agent"] = {"type": "user_reference", "summary": agent}
    return entry


PAGERDUTY = {
    "log_entries": [
        log_entry("resolve", "2026-03-02T11:40:00Z", "Resolved by Alice Chen", "Alice Chen"),
        log_entry(
            "annotate",
            "2026-03-02T09:40:00Z",
            "Note added",
            "Bob Okafor",
            channel={"type": "note", "summary": "Rollback started"},
        ),
        log_entry(
            "acknowledge", "2026-03-02T09:31:10Z", "Acknowledged by Alice Chen", "Alice Chen"
        ),
        log_entry("notify", "2026-03-02T09:30:05Z", "Notified Alice Chen by SMS", "checkout-api"),
        log_entry(
            "trigger",
            "2026-03-02T09:30:00+00:00",
            "Triggered through the API: checkout 5xx above 2%",
            "checkout-api",
            channel={"type": "api", "summary": "checkout 5xx above 2%"},
        ),
        log_entry("trigger", "2026-03-01T09:30:00Z", "An older incident", "checkout-api"),
        log_entry("assign", None, "No time here"),
    ],
    "limit": 100,
    "offset": 0,
    "more": False,
}


def test_pagerduty_log_entries_yield_the_window_in_time_order():
    reading = timeline_sources.read(
        "pagerduty", [("log_entries.json", json.dumps(PAGERDUTY).encode())], WINDOW
    )
    assert rows(reading) == [
        (
            "2026-03-02T09:30:00Z",
            "Triggered through the API: checkout 5xx above 2%",
            "pagerduty (checkout-api)",
        ),
        ("2026-03-02T09:30:05Z", "Notified Alice Chen by SMS", "pagerduty (checkout-api)"),
        ("2026-03-02T09:31:10Z", "Acknowledged by Alice Chen", "pagerduty (Alice Chen)"),
        ("2026-03-02T09:40:00Z", "Note: Rollback started", "pagerduty (Bob Okafor)"),
        ("2026-03-02T11:40:00Z", "Resolved by Alice Chen", "pagerduty (Alice Chen)"),
    ]
    assert reading.outside == 1
    assert reading.problems == ["1 log entry without a time or a summary left out"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "is not valid JSON"),
        (b'{"incidents": []}', "is not a PagerDuty log_entries answer"),
        (b"[1, 2]", "is not a PagerDuty log_entries answer"),
        (zipped([("a.json", b"{}")]), "choose one file"),
    ],
)
def test_bad_pagerduty_files_are_refused(data, message):
    files = [("a.json", data)]
    if data.startswith(b"PK"):
        files = [("a.zip", data), ("b.json", b"{}")]
    with pytest.raises(SourceError, match=re.escape(message)):
        timeline_sources.read("pagerduty", files, WINDOW)


# --- CSV --------------------------------------------------------------------------------------


def test_a_csv_with_a_header_in_any_order():
    data = (
        b"Source,Time,Event\n"
        b"ops,2026-03-02T09:20:00Z,Errors start\n"
        b",2026-03-02 10:15:00+01:00,Config rolled back\n"
        b"ops,2026-03-02T13:00:00Z,Long after\n"
    )
    reading = timeline_sources.read("csv", [("t.csv", data)], WINDOW)
    assert rows(reading) == [
        ("2026-03-02T09:15:00Z", "Config rolled back", "csv"),
        ("2026-03-02T09:20:00Z", "Errors start", "ops"),
    ]
    assert reading.outside == 1


def test_a_csv_without_a_header_with_bad_rows_named():
    data = (
        b"09:20,Errors start\n"
        b"9:31 AM,Alice paged,pagerduty\n"
        b"soon,Something\n"
        b"10:02,\n"
        b"\n"
        b"1772446320,Rollback done,deploy log\n"
        b"11:40 UTC;Resolved\n"
    )
    berlin = ZoneInfo("Europe/Berlin")
    reading = timeline_sources.read("csv", [("t.csv", data)], WINDOW, tz=UTC)
    assert rows(reading) == [
        ("2026-03-02T09:20:00Z", "Errors start", "csv"),
        ("2026-03-02T09:31:00Z", "Alice paged", "pagerduty"),
        ("2026-03-02T10:12:00Z", "Rollback done", "deploy log"),
    ]
    assert reading.problems == [
        "row 3: 'soon' is not a time",
        "row 4: no text beside '10:02'",
        "row 7: no text beside '11:40 UTC;Resolved'",
    ]
    # Times without a zone are in the chosen one.
    local = timeline_sources.read("csv", [("t.csv", b"10:20,Errors start\n")], WINDOW, tz=berlin)
    assert rows(local) == [("2026-03-02T09:20:00Z", "Errors start", "csv")]


def test_a_csv_separated_by_semicolons_and_past_midnight():
    data = b"time;text\n23:50;Still failing\n00:10;Fixed\n"
    night = Window(datetime(2026, 3, 2, 23, 0, tzinfo=UTC), datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    reading = timeline_sources.read("csv", [("t.csv", data)], night)
    assert rows(reading) == [
        ("2026-03-02T23:50:00Z", "Still failing", "csv"),
        ("2026-03-03T00:10:00Z", "Fixed", "csv"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "choose a file"),
        (b"\n\n", "has no rows"),
        (b"\x00\x01\x02binary", "is not a text file"),
        (b'time,text\n"2026-03-02T09:20:00Z,"unclosed\n' + b"x" * 200_000, "not a readable CSV"),
    ],
)
def test_bad_csv_files_are_refused(data, message):
    with pytest.raises(SourceError, match=re.escape(message)):
        timeline_sources.read("csv", [("t.csv", data)], WINDOW)


def test_the_window_and_the_entry_limit():
    lines = "".join(f"2026-03-02T09:{m // 60:02d}:{m % 60:02d}Z,entry {m}\n" for m in range(600))
    reading = timeline_sources.read("csv", [("t.csv", lines.encode())], WINDOW)
    assert len(reading.entries) == 500 and reading.left_out == 100
    assert reading.entries[-1].text == "entry 499"  # the first 500 in time order
    busy = [
        message(f"2026-03-02T10:{m // 60:02d}:{m % 60:02d}", f"m{m}") for m in range(599, -1, -1)
    ]
    export = zipped([("inc/2026-03-02.json", json.dumps(busy).encode())])
    slack = timeline_sources.read("slack", [("e.zip", export)], WINDOW)
    assert len(slack.entries) == 500 and slack.left_out == 100
    assert [e.text for e in slack.entries[:2]] == ["m0", "m1"]
    rows_max = b"".join(b"09:20,x%d\n" % i for i in range(20_001))
    with pytest.raises(SourceError, match="more than 20,000 rows"):
        timeline_sources.read("csv", [("t.csv", rows_max)], WINDOW)
    doc = document(started_at=None, detected_at=None, mitigated_at=None, resolved_at=None)
    with pytest.raises(SourceError, match="no start time yet") as refused:
        timeline_sources.for_incident(doc, 30)
    assert refused.value.field == "from"
    window = timeline_sources.for_incident(document(resolved_at=None, mitigated_at=None), 15)
    assert window.as_dict() == {"from": "2026-03-02T08:59:00Z", "to": "2026-03-02T09:46:00Z"}
    with pytest.raises(SourceError, match="at most 31 days"):
        timeline_sources.for_incident(document(), 0, end=datetime(2026, 5, 1, tzinfo=UTC))


def test_merging_keeps_order_and_leaves_out_what_is_there():
    timeline = [
        {"at": "2026-03-02T09:14:00Z", "text": "Push", "source": None},
        {"at": None, "text": "Someone noticed", "source": None},
        {"at": "2026-03-02T10:00:00Z", "text": "Rolled  back", "source": "me"},
    ]
    entries = timeline_sources.checked(
        [
            {"at": "2026-03-02T10:00:00Z", "text": "Rolled back", "source": "slack"},
            {"at": "2026-03-02T09:30:00Z", "text": "Paged", "source": "pagerduty"},
            {"at": "2026-03-02T11:00:00Z", "text": "Resolved"},
        ]
    )
    new, added, duplicates = merged(timeline, entries)
    assert [r["text"] for r in new] == [
        "Push",
        "Someone noticed",
        "Paged",
        "Rolled  back",
        "Resolved",
    ]
    assert len(added) == 2 and duplicates == 1


# --- the pages --------------------------------------------------------------------------------


@pytest.fixture
def draft(make_user, make_postmortem):
    make_user("writer@x.example", role="author", teams=["payments"])
    return make_postmortem(
        ref=REF,
        status="draft",
        published_at=None,
        authors=["writer@x.example"],
        timeline=[
            {"at": "2026-03-02T09:14:00Z", "text": "Config push reaches every region"},
            {"at": "2026-03-02T09:25:30Z", "text": "Rolling back the config push"},
        ],
    )


def _upload(client, source, files, **fields):
    data = {"csrf_token": _csrf_token(client), "source": source, "tz": "UTC", **fields}
    data["file"] = [(io.BytesIO(body), name) for name, body in files]
    return client.post(
        f"/postmortems/{REF}/timeline/import", data=data, content_type="multipart/form-data"
    )


def _boxes(page):
    """(value, checked) of every entry box of the preview."""
    return [
        (html.unescape(m.group(1)), bool(m.group(2)))
        for m in re.finditer(r'name="entry" value="([^"]*)"( checked)?', page)
    ]


def _confirm(client, values, version, **fields):
    data = {
        "csrf_token": _csrf_token(client),
        "version": str(version),
        "tz": "UTC",
        "source": "slack",
        "entry": values,
        **fields,
    }
    return client.post(
        f"/postmortems/{REF}/timeline/import/confirm", data=data, content_type="multipart/form-data"
    )


def test_an_author_previews_a_slack_export_and_adds_the_chosen_entries(
    client, login, draft, session
):
    login(accounts.get_user(session, "writer@x.example"))
    editor = client.get(f"/postmortems/{REF}/edit").get_data(as_text=True)
    assert f'href="/postmortems/{REF}/timeline/import"' in editor
    form = client.get(f"/postmortems/{REF}/timeline/import").get_data(as_text=True)
    assert 'value="2026-03-02T08:44"' in form and 'value="2026-03-02T12:10"' in form

    page = _upload(
        client,
        "slack",
        [("export.zip", zipped(slack_files()))],
        **{"from": "2026-03-02T08:44", "to": "2026-03-02T12:10"},
    )
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "5 entries from Slack #inc-2026-014" in text
    assert "2 outside this window were left out" in text
    boxes = _boxes(text)
    assert [json.loads(v)["text"] for v, _c in boxes] == [t for _a, t, _s in EXPECTED_SLACK]
    # the thread reply is in the timeline already: shown, not ticked
    assert [c for _v, c in boxes] == [True, False, True, True, True]
    assert "Already in the timeline." in text
    assert session.get(Postmortem, draft.id).version == 1  # nothing saved yet

    chosen = [v for v, c in boxes if c and "deploybot" not in v]  # untick the bot
    done = _confirm(client, chosen, 1)
    assert done.status_code == 302 and done.location.endswith(f"/postmortems/{REF}/edit#s-timeline")
    session.expire_all()
    pm = session.get(Postmortem, draft.id)
    assert pm.version == 2
    assert [(e["at"], e["text"], e["source"]) for e in pm.timeline] == [
        ("2026-03-02T09:14:00Z", "Config push reaches every region", None),
        EXPECTED_SLACK[0],
        ("2026-03-02T09:25:30Z", "Rolling back the config push", None),
        EXPECTED_SLACK[3],
        EXPECTED_SLACK[4],
    ]
    flashed = client.get(f"/postmortems/{REF}/edit").get_data(as_text=True)
    assert "Added 3 entries from Slack to the timeline." in flashed
    history = client.get(f"/api/v1/postmortems/{REF}/revisions").json["items"]
    assert history[0]["note"] == "imported timeline entries from Slack"


def test_a_folder_chosen_in_the_browser_is_read_by_its_paths(client, login, draft, session):
    login(accounts.get_user(session, "writer@x.example"))
    data = {"csrf_token": _csrf_token(client), "source": "slack", "tz": "UTC"}
    data["folder"] = [(io.BytesIO(body), name) for name, body in slack_files("export/")]
    page = client.post(
        f"/postmortems/{REF}/timeline/import", data=data, content_type="multipart/form-data"
    )
    assert page.status_code == 200
    assert len(_boxes(page.get_data(as_text=True))) == 5


def test_a_version_saved_meanwhile_is_a_conflict_that_keeps_the_choice(
    client, login, draft, session
):
    login(accounts.get_user(session, "writer@x.example"))
    page = _upload(client, "csv", [("t.csv", b"09:40,Paged the database team\n10:30,Failover\n")])
    boxes = [v for v, c in _boxes(page.get_data(as_text=True)) if c]
    assert len(boxes) == 2
    # Someone saves the postmortem while the author chooses.
    pm = session.get(Postmortem, draft.id)
    writer = accounts.get_user(session, "writer@x.example")
    editing.update(
        session, pm, {**to_document(pm), "summary": "Changed meanwhile."}, writer, base_version=1
    )
    session.commit()

    refused = _confirm(client, boxes, 1, source="csv")
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert "was saved by someone else while you were choosing (it is now version 2)" in text
    assert [v for v, c in _boxes(text) if c] == boxes  # the choice is still there
    assert 'name="version" value="2"' in text
    session.expire_all()
    assert session.get(Postmortem, draft.id).version == 2  # nothing added

    again = _confirm(client, boxes, 2, source="csv")
    assert again.status_code == 302
    session.expire_all()
    pm = session.get(Postmortem, draft.id)
    assert pm.version == 3 and pm.summary == "Changed meanwhile."
    assert [e["text"] for e in pm.timeline][-2:] == ["Paged the database team", "Failover"]


def test_bad_uploads_and_choices_are_explained_and_change_nothing(client, login, draft, session):
    login(accounts.get_user(session, "writer@x.example"))
    cases = [
        ("slack", [("e.zip", b"hello")], "is it a Slack export"),
        ("pagerduty", [("p.json", b"{oops")], "is not valid JSON"),
        ("csv", [("t.csv", b"soon,later\n")], "No entries of this file fall in the window"),
        ("csv", [], "choose a file to import"),
        ("nothing", [("t.csv", b"09:40,x\n")], "must be one of slack, pagerduty, csv"),
    ]
    for source, files, message in cases:
        page = _upload(client, source, files)
        assert page.status_code in (200, 422), (source, page.status_code)
        assert message in html.unescape(page.get_data(as_text=True)), message
    window = _upload(client, "csv", [("t.csv", b"09:40,x\n")], **{"from": "tomorrow"})
    assert window.status_code == 422
    assert "From: must be a date and time" in window.get_data(as_text=True)

    damaged = _confirm(client, ["{not json"], 1)
    assert damaged.status_code == 302 and damaged.location.endswith("/timeline/import")
    none = _confirm(client, [], 1)
    assert none.status_code == 302
    session.expire_all()
    assert session.get(Postmortem, draft.id).version == 1


def test_readers_and_strangers_cannot_import(client, login, make_user, draft, session):
    reader = make_user("reader@x.example", role="reader", teams=["payments"])
    login(reader)
    assert client.get(f"/postmortems/{REF}/timeline/import").status_code in (403, 404)
    page = _upload(client, "csv", [("t.csv", b"09:40,x\n")])
    assert page.status_code in (403, 404)
    outsider = make_user("outsider@x.example", role="author", teams=["search"])
    login(outsider)
    assert client.get(f"/postmortems/{REF}/timeline/import").status_code in (403, 404)


def test_csrf_is_required(client, login, draft, session):
    login(accounts.get_user(session, "writer@x.example"))
    response = client.post(
        f"/postmortems/{REF}/timeline/import",
        data={"source": "csv", "file": (io.BytesIO(b"09:40,x\n"), "t.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400


# --- the API ----------------------------------------------------------------------------------


@pytest.fixture
def token(session, draft):
    _row, secret = accounts.create_token(session, "writer@x.example", "test")
    session.commit()
    return {"Authorization": f"Bearer {secret}"}


def _api(client, token, query="", **fields):
    data = {"source": "slack", **fields}
    if isinstance(data.get("file"), tuple) and isinstance(data["file"][0], bytes):
        data["file"] = (io.BytesIO(data["file"][0]), data["file"][1])
    return client.post(
        f"/api/v1/postmortems/{REF}/timeline/import{query}",
        data=data,
        headers=token,
        content_type="multipart/form-data",
    )


def test_the_api_dry_run_answers_the_entries_and_changes_nothing(client, token, session, draft):
    answer = _api(
        client, token, "?dry_run=true", file=(io.BytesIO(zipped(slack_files())), "export.zip")
    )
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["dry_run"] is True and body["channel"] == "inc-2026-014"
    assert body["window"] == {"from": "2026-03-02T08:44:00Z", "to": "2026-03-02T12:10:00Z"}
    assert [(e["at"], e["text"], e["source"]) for e in body["entries"]] == EXPECTED_SLACK
    assert [e["already_there"] for e in body["entries"]] == [False, True, False, False, False]
    assert body["outside"] == 2 and body["version"] == 1 and body["added"] == 0
    session.expire_all()
    assert session.get(Postmortem, draft.id).version == 1

    narrower = _api(
        client,
        token,
        "?dry_run=true",
        file=(io.BytesIO(zipped(slack_files())), "export.zip"),
        margin="0",
        to="2026-03-02T10:00:00Z",
    )
    assert narrower.json["window"] == {"from": "2026-03-02T09:14:00Z", "to": "2026-03-02T10:00:00Z"}
    assert len(narrower.json["entries"]) == 2


def test_the_api_applies_a_file_or_the_chosen_entries_with_a_version(client, token, session, draft):
    no_version = _api(
        client,
        token,
        source="pagerduty",
        file=(io.BytesIO(json.dumps(PAGERDUTY).encode()), "p.json"),
    )
    assert no_version.status_code == 400
    assert no_version.json["error"]["errors"][0]["field"] == "version"

    applied = _api(
        client,
        token,
        source="pagerduty",
        version="1",
        file=(io.BytesIO(json.dumps(PAGERDUTY).encode()), "p.json"),
    )
    assert applied.status_code == 200, applied.json
    assert applied.json["added"] == 5 and applied.json["version"] == 2

    stale = client.post(
        f"/api/v1/postmortems/{REF}/timeline/import",
        json={"entries": [{"at": "2026-03-02T09:50:00Z", "text": "DB failover"}], "version": 1},
        headers=token,
    )
    assert stale.status_code == 409 and stale.json["current_version"] == 2

    chosen = client.post(
        f"/api/v1/postmortems/{REF}/timeline/import",
        json={
            "entries": [
                {"at": "2026-03-02T09:50:00Z", "text": "DB failover", "source": "me"},
                {"at": "2026-03-02T09:40:00Z", "text": "Note: Rollback started"},
            ],
            "version": 2,
        },
        headers=token,
    )
    assert chosen.status_code == 200, chosen.json
    assert chosen.json["added"] == 1 and chosen.json["duplicates"] == 1
    document = client.get(f"/api/v1/postmortems/{REF}", headers=token).json
    times = [e["at"] for e in document["timeline"]]
    assert times == sorted(times) and document["version"] == 3
    assert len(document["timeline"]) == 2 + 5 + 1


@pytest.mark.parametrize(
    ("fields", "json_body", "status", "field"),
    [
        ({"file": (b"{", "p.json"), "source": "pagerduty"}, None, 422, "file"),
        ({"file": (b"x", "p.json"), "source": "fax"}, None, 400, "source"),
        ({"source": "csv"}, None, 400, "file"),
        ({"file": (b"9:40,x", "t.csv"), "margin": "-3"}, None, 400, "margin"),
        (None, {"entries": [{"at": "soon", "text": "x"}], "version": 1}, 400, "entries[0]"),
        (None, {"entries": "all", "version": 1}, 400, "entries"),
        (None, [1, 2], 400, "body"),
    ],
)
def test_the_api_names_what_is_wrong(client, token, fields, json_body, status, field):
    if json_body is None:
        response = _api(client, token, "?dry_run=true", **fields)
    else:
        response = client.post(
            f"/api/v1/postmortems/{REF}/timeline/import", json=json_body, headers=token
        )
    assert response.status_code == status, response.json
    assert response.json["error"]["errors"][0]["field"] == field


def test_a_published_postmortem_needs_an_amendment_note(
    client, session, make_user, make_postmortem
):
    make_user("writer@x.example", role="author", teams=["payments"])
    make_postmortem(ref=REF, authors=["writer@x.example"])
    _row, secret = accounts.create_token(session, "writer@x.example", "test")
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    entry = {"at": "2026-03-02T09:50:00Z", "text": "DB failover"}
    without = client.post(
        f"/api/v1/postmortems/{REF}/timeline/import",
        json={"entries": [entry], "version": 1},
        headers=headers,
    )
    assert without.status_code == 422 and without.json["error"]["errors"][0]["field"] == "note"
    noted = client.post(
        f"/api/v1/postmortems/{REF}/timeline/import",
        json={"entries": [entry], "version": 1, "note": "added the failover from the channel"},
        headers=headers,
    )
    assert noted.status_code == 200 and noted.json["version"] == 2


def test_the_timeline_limit_is_all_or_nothing(client, token, session, draft):
    entries = [
        {"at": f"2026-03-02T10:{m // 60:02d}:{m % 60:02d}Z", "text": f"e{m}"} for m in range(499)
    ]
    refused = client.post(
        f"/api/v1/postmortems/{REF}/timeline/import",
        json={"entries": entries, "version": 1},
        headers=token,
    )
    assert refused.status_code == 422
    assert "would hold 501 entries" in refused.json["error"]["message"]
    session.expire_all()
    assert session.get(Postmortem, draft.id).version == 1


def test_on_a_published_postmortem_the_page_asks_for_the_amendment_note(
    client, login, make_user, make_postmortem, session
):
    writer = make_user("writer@x.example", role="author", teams=["payments"])
    pm = make_postmortem(ref=REF, authors=["writer@x.example"])
    login(writer)
    page = _upload(client, "csv", [("t.csv", b"09:40,Paged the database team\n")])
    text = page.get_data(as_text=True)
    assert 'name="note"' in text and "is published" in text
    chosen = [v for v, c in _boxes(text) if c]
    refused = _confirm(client, chosen, 1, source="csv")
    assert refused.status_code == 422
    assert "Nothing was added" in refused.get_data(as_text=True)
    assert [v for v, c in _boxes(refused.get_data(as_text=True)) if c] == chosen
    noted = _confirm(client, chosen, 1, source="csv", note="added the page from the pager")
    assert noted.status_code == 302
    session.expire_all()
    saved = session.get(Postmortem, pm.id)
    assert saved.version == 2 and saved.timeline[-1]["text"] == "Paged the database team"
